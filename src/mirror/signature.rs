//! Detached OpenPGP signatures checked while the file streams in.
//!
//! rpgp's `Signature::verify` pulls its input from a reader; a download
//! pushes chunks. So the data is hashed here, with rpgp's own hasher for the
//! signature's algorithm, and rpgp finishes the job: it hashes the signature
//! packet's trailer and checks the cryptographic signature with the subkey.
//! The same pass yields the file's digest in that algorithm, which spares a
//! second SHA-512 pass when checking a `.DIGESTS` file.

use anyhow::{Context, Result, anyhow, bail, ensure};
use digest::DynDigest;
use pgp::composed::{Deserializable, DetachedSignature};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType, SignatureVersion};
use pgp::types::VerifyingKey;

use crate::fetch::inspect::Inspect;

use super::keyring::Signer;

/// A parsed detached signature that mkstick is willing to check.
pub(super) struct Detached {
    sig: Signature,
}

impl Detached {
    /// Parses an armored or binary detached signature from `source`.
    pub(super) fn parse(bytes: &[u8], source: &str) -> Result<Self> {
        let (sig, _) = DetachedSignature::from_reader_single(bytes)
            .map_err(|e| anyhow!("{source} is not an OpenPGP signature: {e}"))?;
        let sig = sig.signature;
        ensure!(
            sig.version() == SignatureVersion::V4,
            "{source}: unsupported signature version {:?} (mkstick checks v4 signatures)",
            sig.version()
        );
        ensure!(
            sig.typ() == Some(SignatureType::Binary),
            "{source}: expected a binary document signature, found {:?}",
            sig.typ()
        );
        let hash = sig.hash_alg().context("the signature names no hash")?;
        ensure!(
            matches!(
                hash,
                HashAlgorithm::Sha256
                    | HashAlgorithm::Sha384
                    | HashAlgorithm::Sha512
                    | HashAlgorithm::Sha3_256
                    | HashAlgorithm::Sha3_512
            ),
            "{source}: the signature uses {hash}, which is too weak to trust"
        );
        Ok(Self { sig })
    }

    pub(super) fn signature(&self) -> &Signature {
        &self.sig
    }

    pub(super) fn hash_alg(&self) -> HashAlgorithm {
        self.sig.hash_alg().unwrap_or(HashAlgorithm::None)
    }

    /// An inspector that hashes the signed data.
    pub(super) fn hasher(&self) -> Result<DataHasher> {
        let hasher = self
            .hash_alg()
            .new_hasher()
            .map_err(|e| anyhow!("cannot hash with {}: {e}", self.hash_alg()))?;
        Ok(DataHasher { hasher })
    }

    /// Checks the signature, given the hashed data, against `signer`'s subkey.
    pub(super) fn verify(&self, signer: &Signer<'_>, mut data: HashedData) -> Result<()> {
        let config = self
            .sig
            .config()
            .context("the signature has no readable body")?;
        let len = config
            .hash_signature_data(&mut data.state)
            .map_err(|e| anyhow!("hashing the signature packet: {e}"))?;
        data.state.update(
            &config
                .trailer(len)
                .map_err(|e| anyhow!("hashing the signature trailer: {e}"))?,
        );
        let hash = data.state.finalize();
        if self.sig.signed_hash_value() != Some([hash[0], hash[1]]) {
            bail!("the file does not match its signature (wrong content or truncated)");
        }
        let bytes = self.sig.signature().context("the signature has no value")?;
        signer
            .subkey
            .verify(config.hash_alg, &hash, bytes)
            .map_err(|e| {
                anyhow!(
                    "the signature does not verify with subkey {}: {e}",
                    signer.fingerprint
                )
            })
    }
}

/// Hashes the signed data in the signature's own hash algorithm.
pub(super) struct DataHasher {
    hasher: Box<dyn DynDigest + Send>,
}

/// The data's hash state (to finish the signature) and its plain digest.
pub(super) struct HashedData {
    state: Box<dyn DynDigest + Send>,
    /// Digest of the data alone in the signature's hash algorithm.
    pub digest: Box<[u8]>,
}

impl Inspect for DataHasher {
    type Output = HashedData;

    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    fn finish(self) -> HashedData {
        let digest = self.hasher.box_clone().finalize();
        HashedData {
            state: self.hasher,
            digest,
        }
    }
}
