//! The trust anchor: Flatcar's image-signing key, accepted only when its
//! primary fingerprint is the pinned one, and the rules that make one of its
//! subkeys an acceptable signer for a given signature.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail, ensure};
use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{RevocationCode, Signature, SignatureType};
use pgp::types::{KeyDetails, Timestamp};

/// Fingerprint of "Flatcar Buildbot (Official Builds)", the image-signing primary key.
pub const FLATCAR_FINGERPRINT: &str = "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A";

/// Where Flatcar publishes that key.
pub const FLATCAR_KEY_URL: &str =
    "https://www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc";

/// Test-only seam: replaces the pinned fingerprint so tests can sign fixtures
/// with a throwaway key. Using it prints a warning on every run. It exists
/// only with the `test-keys` feature, which nothing but this crate's own
/// dev-dependency on itself turns on: `cargo test` and `cargo bench` builds
/// have it, `cargo build` and `cargo install` builds do not.
#[cfg(feature = "test-keys")]
pub const TEST_FINGERPRINT_ENV: &str = "MKSTICK_TEST_SIGNING_FINGERPRINT";

/// A v4 OpenPGP key fingerprint (20 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 20]);

impl Fingerprint {
    /// Flatcar's fingerprint, unless the test seam (test builds only) names another one.
    pub fn pinned() -> Result<Self> {
        #[cfg(feature = "test-keys")]
        if let Ok(fp) = std::env::var(TEST_FINGERPRINT_ENV) {
            eprintln!(
                "warning: {TEST_FINGERPRINT_ENV} is set: trusting key {fp} instead of \
                 Flatcar's image-signing key. This is for mkstick's tests only."
            );
            return fp
                .parse()
                .with_context(|| format!("reading {TEST_FINGERPRINT_ENV}"));
        }
        Ok(Self::flatcar())
    }

    pub fn flatcar() -> Self {
        FLATCAR_FINGERPRINT
            .parse()
            .unwrap_or_else(|_| unreachable!("the pinned fingerprint is valid hex"))
    }

    pub fn of(key: &impl KeyDetails) -> Option<Self> {
        key.fingerprint().as_bytes().try_into().ok().map(Self)
    }

    /// The last 8 bytes: the "long key ID" signatures may name instead.
    fn key_id(&self) -> &[u8] {
        &self.0[12..]
    }
}

impl FromStr for Fingerprint {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let hex: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let mut out = [0u8; 20];
        hex::decode_to_slice(&hex, &mut out)
            .map_err(|_| anyhow!("{s:?} is not a 40-hex-digit OpenPGP v4 fingerprint"))?;
        Ok(Self(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A public key whose primary fingerprint matched the pin.
pub struct Keyring {
    key: SignedPublicKey,
}

/// The subkey that made a signature, checked to be allowed to.
pub struct Signer<'a> {
    pub subkey: &'a SignedPublicSubKey,
    pub fingerprint: Fingerprint,
}

impl Keyring {
    /// Parses an armored or binary public key from `source` and checks its
    /// primary fingerprint against `pinned`.
    pub fn parse(bytes: &[u8], pinned: &Fingerprint, source: &str) -> Result<Self> {
        let (key, _) = SignedPublicKey::from_reader_single(bytes)
            .map_err(|e| anyhow!("{source} is not an OpenPGP public key: {e}"))?;
        let actual = Fingerprint::of(&key.primary_key)
            .with_context(|| format!("{source}: only v4 keys are supported"))?;
        ensure!(
            actual == *pinned || super::ephemeral::is_trusted(&actual),
            "{source}: the key's primary fingerprint is {actual}, but mkstick trusts only \
             {pinned}; refusing it"
        );
        Ok(Self { key })
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.key.primary_key).unwrap_or_else(|| unreachable!("checked in parse"))
    }

    /// Finds the subkey that made `sig` and checks that it was a signing
    /// subkey bound to the primary, not revoked, and not expired when `sig`
    /// was made; the primary key must not be revoked or expired either.
    pub fn signer_for(&self, sig: &Signature) -> Result<Signer<'_>> {
        let made = sig
            .created()
            .context("the signature carries no creation time")?;
        let subkey = self
            .key
            .public_subkeys
            .iter()
            .find(|sub| issued_by(sig, sub))
            .ok_or_else(|| {
                anyhow!(
                    "the signature was not made by a subkey of key {} (issuer: {})",
                    self.fingerprint(),
                    issuer_text(sig)
                )
            })?;
        let fingerprint = Fingerprint::of(&subkey.key).context("only v4 subkeys are supported")?;
        self.check_primary(made)?;
        check_subkey(&self.key, subkey, made)
            .with_context(|| format!("signing subkey {fingerprint}"))?;
        Ok(Signer {
            subkey,
            fingerprint,
        })
    }

    fn check_primary(&self, made: Timestamp) -> Result<()> {
        let primary = &self.key.primary_key;
        for rev in &self.key.details.revocation_signatures {
            if rev.verify_key(primary).is_ok() {
                bail!(
                    "the primary key {} was revoked on {}{}",
                    self.fingerprint(),
                    date_of(rev.created()),
                    reason(rev)
                );
            }
        }
        // The newest valid self-certification carries the primary's expiry.
        let newest = self
            .key
            .details
            .users
            .iter()
            .flat_map(|u| {
                u.signatures.iter().filter(move |s| {
                    s.verify_certification(primary, pgp::types::Tag::UserId, &u.id)
                        .is_ok()
                })
            })
            .max_by_key(|s| s.created().map(|t| t.as_secs()));
        if let Some(expires) = newest.and_then(|s| expiry(primary.created_at(), s)) {
            ensure!(
                made.as_secs() < expires,
                "the primary key {} expired on {}, before the signature was made ({})",
                self.fingerprint(),
                date(expires),
                date(made.as_secs())
            );
        }
        Ok(())
    }
}

fn check_subkey(
    primary: &SignedPublicKey,
    sub: &SignedPublicSubKey,
    made: Timestamp,
) -> Result<()> {
    let pk = &primary.primary_key;
    for rev in sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
    {
        if rev.verify_subkey_binding(pk, &sub.key).is_err() {
            continue;
        }
        // "Superseded" and "retired" keep earlier signatures valid; any other
        // reason (or none) means the key may be compromised: nothing it signed counts.
        let soft = matches!(
            rev.revocation_reason_code(),
            Some(RevocationCode::KeySuperseded | RevocationCode::KeyRetired)
        );
        let revoked_at = rev.created().map(|t| t.as_secs()).unwrap_or(0);
        if !soft || made.as_secs() >= revoked_at {
            bail!("it was revoked on {}{}", date(revoked_at), reason(rev));
        }
    }
    let binding = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .filter(|s| s.verify_subkey_binding(pk, &sub.key).is_ok())
        .max_by_key(|s| s.created().map(|t| t.as_secs()))
        .context("it has no valid binding signature from the primary key")?;
    ensure!(
        binding.key_flags().sign(),
        "it is not a signing subkey (its binding lacks the sign flag)"
    );
    let backsig = binding
        .embedded_signature()
        .context("its binding lacks the subkey's own back-signature")?;
    backsig
        .verify_primary_key_binding(&sub.key, pk)
        .map_err(|e| anyhow!("its back-signature does not verify: {e}"))?;
    let created = sub.key.created_at().as_secs();
    ensure!(
        made.as_secs() >= created,
        "the signature ({}) predates the subkey ({})",
        date(made.as_secs()),
        date(created)
    );
    if let Some(expires) = expiry(sub.key.created_at(), binding) {
        ensure!(
            made.as_secs() < expires,
            "it expired on {}, before the signature was made ({})",
            date(expires),
            date(made.as_secs())
        );
    }
    Ok(())
}

/// When a key created at `created` expires per `sig`, in Unix seconds.
fn expiry(created: Timestamp, sig: &Signature) -> Option<u32> {
    let secs = sig.key_expiration_time()?.as_secs();
    (secs > 0).then(|| created.as_secs().saturating_add(secs))
}

fn issued_by(sig: &Signature, sub: &SignedPublicSubKey) -> bool {
    let Some(fp) = Fingerprint::of(&sub.key) else {
        return false;
    };
    sig.issuer_fingerprint()
        .iter()
        .any(|f| f.as_bytes() == fp.0.as_slice())
        || sig
            .issuer_key_id()
            .iter()
            .any(|id| id.as_ref() == fp.key_id())
}

fn issuer_text(sig: &Signature) -> String {
    let mut names: Vec<String> = sig
        .issuer_fingerprint()
        .iter()
        .map(|f| hex::encode_upper(f.as_bytes()))
        .collect();
    names.extend(
        sig.issuer_key_id()
            .iter()
            .map(|id| hex::encode_upper(id.as_ref())),
    );
    if names.is_empty() {
        "none named".to_owned()
    } else {
        names.join(", ")
    }
}

fn reason(rev: &Signature) -> String {
    let text = rev
        .revocation_reason_string()
        .map(|b| String::from_utf8_lossy(b).trim().to_owned())
        .filter(|s| !s.is_empty());
    match (rev.revocation_reason_code(), text) {
        (Some(code), Some(text)) => format!(" ({code:?}: {text})"),
        (Some(code), None) => format!(" ({code:?})"),
        (None, Some(text)) => format!(" ({text})"),
        (None, None) => String::new(),
    }
}

fn date_of(t: Option<Timestamp>) -> String {
    t.map(|t| date(t.as_secs()))
        .unwrap_or_else(|| "an unknown date".to_owned())
}

/// `YYYY-MM-DD` (UTC) for Unix seconds, without a date crate.
pub fn date(secs: u32) -> String {
    let (year, month, day) = crate::civil::civil_from_days(i64::from(secs / 86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_804_464_000), "2027-03-08");
        assert_eq!(date(951_782_400), "2000-02-29");
    }

    #[test]
    fn fingerprints_parse_with_spaces() {
        let fp: Fingerprint = "F88C FEDE FF29 A5B4 D952  3864 E25D 9AED 0593 B34A"
            .parse()
            .unwrap();
        assert_eq!(fp, Fingerprint::flatcar());
        assert_eq!(hex::encode_upper(fp.key_id()), "E25D9AED0593B34A");
        assert!("F88C".parse::<Fingerprint>().is_err());
    }
}

// The integration tests' key maker, shared: its items are `pub` for them.
#[cfg(test)]
#[allow(unreachable_pub)]
#[path = "../../tests/support/keys.rs"]
mod testkeys;

#[cfg(test)]
mod key_tests {
    use pgp::composed::{Deserializable, DetachedSignature};
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::packet::RevocationCode;

    use super::testkeys::{TestKey, now};
    use super::*;

    fn check(key: &TestKey, sig: &[u8]) -> Result<Fingerprint> {
        let keyring = Keyring::parse(
            key.armored_public().as_bytes(),
            &key.fingerprint_hex().parse()?,
            "test key",
        )?;
        let (sig, _) = DetachedSignature::from_reader_single(sig)?;
        keyring.signer_for(&sig.signature).map(|s| s.fingerprint)
    }

    #[test]
    fn accepts_a_bound_signing_subkey() {
        let mut key = TestKey::generate(1, 100);
        let sig = key.sign(b"data");
        let signer = check(&key, &sig).unwrap();
        assert_eq!(
            Some(signer),
            Fingerprint::of(&key.public.public_subkeys[0].key)
        );
    }

    #[test]
    fn refuses_a_key_with_another_fingerprint() {
        let key = TestKey::generate(2, 100);
        let err = Keyring::parse(
            key.armored_public().as_bytes(),
            &Fingerprint::flatcar(),
            "k.asc",
        )
        .err()
        .unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("mkstick trusts only F88CFEDEFF29A5B4D9523864E25D9AED0593B34A"),
            "{msg}"
        );
    }

    #[test]
    fn expired_subkey_is_reported_but_older_signatures_stay_valid() {
        let mut key = TestKey::generate(3, 10_000);
        key.expire_subkey(5_000);
        let late = key.sign(b"data");
        let msg = format!("{:#}", check(&key, &late).unwrap_err());
        assert!(msg.contains("expired on"), "{msg}");
        let early = key.sign_at(b"data", HashAlgorithm::Sha512, now() - 8_000);
        assert!(check(&key, &early).is_ok());
    }

    #[test]
    fn revoked_subkey_is_reported() {
        let mut key = TestKey::generate(4, 100);
        let sig = key.sign(b"data");
        key.revoke_subkey(RevocationCode::KeyCompromised);
        let msg = format!("{:#}", check(&key, &sig).unwrap_err());
        assert!(
            msg.contains("was revoked on") && msg.contains("KeyCompromised"),
            "{msg}"
        );
    }

    #[test]
    fn retired_subkey_keeps_earlier_signatures() {
        let mut key = TestKey::generate(5, 10_000);
        let early = key.sign_at(b"data", HashAlgorithm::Sha512, now() - 5_000);
        key.revoke_subkey(RevocationCode::KeyRetired);
        assert!(check(&key, &early).is_ok());
        let late = key.sign_at(b"data", HashAlgorithm::Sha512, now() + 5);
        assert!(format!("{:#}", check(&key, &late).unwrap_err()).contains("revoked"));
    }

    #[test]
    fn signature_from_a_foreign_key_names_the_issuer() {
        let key = TestKey::generate(6, 100);
        let mut other = TestKey::generate(7, 100);
        let sig = other.sign(b"data");
        let msg = format!("{:#}", check(&key, &sig).unwrap_err());
        assert!(msg.contains("not made by a subkey"), "{msg}");
    }
}
