//! The test CA of `qemu-test --node`: made fresh for every run, trusted only
//! by the test OS (its PEM goes into the guest's CA bundle), and the server
//! certificates the faked outside world presents.

use std::sync::Arc;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TestCa {
    /// PEM of the CA certificate, for the guest's trust store.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> Result<Self> {
        let key = KeyPair::generate().context("generating the test CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params
            .self_signed(&key)
            .context("signing the test CA certificate")?;
        Ok(Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A TLS server configuration presenting a certificate for `names`
    /// (host names or IP addresses) issued by this CA.
    pub fn server_config(&self, names: &[String]) -> Result<Arc<ServerConfig>> {
        let key = KeyPair::generate().context("generating a server key")?;
        let mut params = CertificateParams::new(names.to_vec())
            .with_context(|| format!("a certificate for {names:?}"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "mkstick qemu-test server");
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing a server certificate")?;
        let chain = vec![cert.der().clone(), self.der.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the test server certificate")?;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_chain_to_the_test_ca_only() {
        let ca = TestCa::new("mkstick test CA").unwrap();
        assert!(ca.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let other = TestCa::new("another CA").unwrap();
        assert_ne!(ca.pem, other.pem);
        ca.server_config(&["logs.example.com".into(), "10.0.2.100".into()])
            .unwrap();
    }
}
