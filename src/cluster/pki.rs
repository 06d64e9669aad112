//! The cluster's secrets made offline: the k3s token and the CAs that k3s
//! would otherwise generate on the first server's first start.
//!
//! k3s uses CA files already present in `server/tls/` (it only generates a
//! missing cert+key pair), so CAs made here let the secure token
//! `K10<sha256 of server-ca.crt>::server:<secret>` exist before any node has
//! booted. k3s hashes the CA file's bytes as served at `/cacerts` when the file
//! holds a single certificate (`pkg/clientaccess/token.go`, `hashCA`), so the
//! hash here is over the PEM file exactly as written to the stick.

use anyhow::{Context, Result, anyhow};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::secrets::Secret;

/// One CA k3s needs, by its path under `server/tls/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CaKind {
    Server,
    Client,
    RequestHeader,
    EtcdServer,
    EtcdPeer,
}

impl CaKind {
    /// The CAs of a cluster; etcd's only with an embedded datastore.
    pub(crate) fn for_cluster(embedded: bool) -> &'static [CaKind] {
        if embedded {
            &[
                CaKind::Server,
                CaKind::Client,
                CaKind::RequestHeader,
                CaKind::EtcdServer,
                CaKind::EtcdPeer,
            ]
        } else {
            &[CaKind::Server, CaKind::Client, CaKind::RequestHeader]
        }
    }

    /// Path of the certificate and key without extension, as under `server/tls/`.
    pub(crate) fn stem(self) -> &'static str {
        match self {
            CaKind::Server => "server-ca",
            CaKind::Client => "client-ca",
            CaKind::RequestHeader => "request-header-ca",
            CaKind::EtcdServer => "etcd/server-ca",
            CaKind::EtcdPeer => "etcd/peer-ca",
        }
    }

    /// k3s names its own CAs `<prefix>-ca@<unix time>`; we do the same.
    fn common_name_prefix(self) -> &'static str {
        match self {
            CaKind::Server => "k3s-server",
            CaKind::Client => "k3s-client",
            CaKind::RequestHeader => "k3s-request-header",
            CaKind::EtcdServer => "etcd-server",
            CaKind::EtcdPeer => "etcd-peer",
        }
    }
}

/// A CA: its certificate (public) and private key (secret), both PEM.
#[derive(Clone, Debug)]
pub(crate) struct Ca {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: Secret,
}

/// How long a CA is valid: k3s makes its own for 10 years.
const CA_YEARS: i64 = 10;

/// A self-signed ECDSA P-256 CA (the key type k3s itself generates), valid
/// from the day before `now` (clock skew) for ten years.
pub(crate) fn generate_ca(kind: CaKind, now_unix: u64) -> Result<Ca> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .with_context(|| format!("generating the {} CA key", kind.stem()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("{}-ca@{now_unix}", kind.common_name_prefix()),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    let days = i64::try_from(now_unix / 86_400).unwrap_or(i64::MAX / 2);
    let (y, m, d) = crate::civil::civil_from_days(days - 1);
    params.not_before = rcgen::date_time_ymd(y as i32, m as u8, d as u8);
    let (y, m, d) = crate::civil::civil_from_days(days);
    // Feb 29 has no match ten years on; the 28th is close enough.
    params.not_after = rcgen::date_time_ymd(
        (y + CA_YEARS) as i32,
        m as u8,
        if m == 2 { d.min(28) as u8 } else { d as u8 },
    );
    let cert = params
        .self_signed(&key)
        .with_context(|| format!("signing the {} CA certificate", kind.stem()))?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
    })
}

/// The password part of the token: 256 bits from the OS CSPRNG, as hex
/// (k3s splits the token at `:`, so the alphabet must not contain one).
pub(crate) fn generate_token_secret() -> Result<Secret> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow!("the operating system's random number generator failed"))?;
    Ok(Secret::new(hex::encode(bytes)))
}

/// The secure join token: `K10<sha256 of the server CA file>::server:<secret>`.
pub(crate) fn secure_token(server_ca_pem: &[u8], secret: &Secret) -> Secret {
    Secret::new(format!(
        "K10{}::server:{}",
        ca_hash(server_ca_pem),
        secret.expose()
    ))
}

/// k3s's hash of a one-certificate CA bundle: sha256 of the file's bytes, hex.
pub(crate) fn ca_hash(server_ca_pem: &[u8]) -> String {
    hex::encode(Sha256::digest(server_ca_pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_carries_the_sha256_of_the_server_ca_file() {
        let ca = generate_ca(CaKind::Server, 1_700_000_000).unwrap();
        let secret = generate_token_secret().unwrap();
        let token = secure_token(ca.cert_pem.as_bytes(), &secret);
        let expect = hex::encode(Sha256::digest(ca.cert_pem.as_bytes()));
        assert_eq!(
            token.expose(),
            format!("K10{expect}::server:{}", secret.expose())
        );
        // k3s's parser: prefix, 64 hex chars, "::", user "server", a password.
        let rest = token.expose().strip_prefix("K10").unwrap();
        let (hash, creds) = rest.split_once("::").unwrap();
        assert_eq!(hash.len(), 64);
        assert_eq!(creds.split_once(':').unwrap().0, "server");
    }

    #[test]
    fn secrets_are_fresh_and_long() {
        let a = generate_token_secret().unwrap();
        let b = generate_token_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64, "256 bits as hex");
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    fn pem_body(pem: &str) -> Vec<u8> {
        use base64::Engine as _;
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    #[test]
    fn ca_is_a_pem_certificate_with_a_pkcs8_key() {
        let ca = generate_ca(CaKind::EtcdPeer, 1_700_000_000).unwrap();
        assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(ca.cert_pem.matches("BEGIN CERTIFICATE").count(), 1);
        assert!(
            ca.key_pem
                .expose()
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        // The key is the certificate's: its public key is inside the certificate.
        let key = KeyPair::from_pem(ca.key_pem.expose()).unwrap();
        let der = pem_body(&ca.cert_pem);
        let public = key.public_key_raw();
        assert!(der.windows(public.len()).any(|w| w == public));
        let other = generate_ca(CaKind::EtcdPeer, 1_700_000_000).unwrap();
        assert_ne!(ca.cert_pem, other.cert_pem, "fresh keys every time");
    }
}
