//! Throwaway OpenPGP keys for tests: a certify-only primary with one Ed25519
//! signing subkey, like Flatcar's, plus ways to expire or revoke that subkey.
#![allow(dead_code)]

use pgp::composed::{
    ArmorOptions, DetachedSignature, KeyType, SecretKeyParamsBuilder, SignedPublicKey,
    SignedSecretKey, SubkeyParamsBuilder, SubpacketConfig,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{
    KeyFlags, RevocationCode, SignatureConfig, SignatureType, Subpacket, SubpacketData,
};
use pgp::ser::Serialize;
use pgp::types::{Duration, KeyDetails, Password, Timestamp};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub struct TestKey {
    pub secret: SignedSecretKey,
    pub public: SignedPublicKey,
    rng: StdRng,
}

/// Seconds since the Unix epoch, now.
pub fn now() -> u32 {
    Timestamp::now().as_secs()
}

impl TestKey {
    /// A fresh key whose subkey was created `subkey_age` seconds ago.
    pub fn generate(seed: u64, subkey_age: u32) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let created = Timestamp::from_secs(now() - subkey_age - 10);
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .created_at(created)
            .primary_user_id("mkstick test key <test@invalid>".into())
            .subkey(
                SubkeyParamsBuilder::default()
                    .key_type(KeyType::Ed25519Legacy)
                    .can_sign(true)
                    .created_at(Timestamp::from_secs(now() - subkey_age))
                    .build()
                    .expect("subkey params"),
            )
            .build()
            .expect("key params");
        let secret = params.generate(&mut rng).expect("key generation");
        let public = secret.to_public_key();
        Self {
            secret,
            public,
            rng,
        }
    }

    pub fn fingerprint_hex(&self) -> String {
        hex::encode_upper(self.secret.primary_key.fingerprint().as_bytes())
    }

    pub fn armored_public(&self) -> String {
        self.public
            .to_armored_string(ArmorOptions::default())
            .expect("armor")
    }

    /// A binary detached signature by the subkey, made `made` (Unix seconds).
    pub fn sign_at(&mut self, data: &[u8], hash: HashAlgorithm, made: u32) -> Vec<u8> {
        let sub = &self.secret.secret_subkeys[0].key;
        let hashed = vec![
            Subpacket::regular(SubpacketData::IssuerFingerprint(sub.fingerprint())).unwrap(),
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                made,
            )))
            .unwrap(),
        ];
        let sig = DetachedSignature::sign_binary_data_with_subpackets(
            &mut self.rng,
            sub,
            &Password::empty(),
            hash,
            data,
            SubpacketConfig::UserDefined {
                hashed,
                unhashed: vec![],
            },
        )
        .expect("signing");
        sig.to_bytes().expect("serializing the signature")
    }

    /// Signs now with SHA-512, as Flatcar does.
    pub fn sign(&mut self, data: &[u8]) -> Vec<u8> {
        self.sign_at(data, HashAlgorithm::Sha512, now())
    }

    /// Rebinds the subkey so that it expires `lifetime` seconds after its creation.
    pub fn expire_subkey(&mut self, lifetime: u32) {
        let old = self.public.public_subkeys[0].signatures[0].clone();
        let backsig = old.embedded_signature().expect("backsig").clone();
        let mut flags = KeyFlags::default();
        flags.set_sign(true);
        let extra = vec![
            SubpacketData::KeyFlags(flags),
            SubpacketData::KeyExpirationTime(Duration::from_secs(lifetime)),
            SubpacketData::EmbeddedSignature(Box::new(backsig)),
        ];
        let binding = self.subkey_sig(SignatureType::SubkeyBinding, extra);
        self.public.public_subkeys[0].signatures = vec![binding];
    }

    /// Adds a revocation of the subkey with `code`, made now.
    pub fn revoke_subkey(&mut self, code: RevocationCode) {
        let extra = vec![SubpacketData::RevocationReason(
            code,
            "test revocation".into(),
        )];
        let rev = self.subkey_sig(SignatureType::SubkeyRevocation, extra);
        self.public.public_subkeys[0].signatures.push(rev);
    }

    fn subkey_sig(
        &mut self,
        typ: SignatureType,
        extra: Vec<SubpacketData>,
    ) -> pgp::packet::Signature {
        let primary = &self.secret.primary_key;
        let mut config = SignatureConfig::v4(typ, primary.algorithm(), HashAlgorithm::Sha256);
        let mut hashed = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now())).unwrap(),
            Subpacket::regular(SubpacketData::IssuerFingerprint(primary.fingerprint())).unwrap(),
        ];
        hashed.extend(extra.into_iter().map(|d| Subpacket::regular(d).unwrap()));
        config.hashed_subpackets = hashed;
        let subkey = &self.public.public_subkeys[0].key;
        config
            .sign_subkey_binding(primary, primary.public_key(), &Password::empty(), subkey)
            .expect("signing the subkey binding")
    }
}
