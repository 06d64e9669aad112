//! The test CA of `qemu-test --node`: made fresh for every run, trusted only
//! by the test OS (its PEM goes into the guest's CA bundle), and the server
//! certificates the faked outside world presents.

use std::sync::Arc;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub(crate) struct TestCa {
    /// PEM of the CA certificate, for the guest's trust store.
    pub(crate) pem: String,
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> Result<Self> {
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
    pub(crate) fn server_config(&self, names: &[String]) -> Result<Arc<ServerConfig>> {
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
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection, StreamOwned};

    use super::*;

    /// A client trusting only `trusted` connects to a server using
    /// `server` for `name`; returns whether the handshake and a byte worked.
    fn connect(trusted: &TestCa, server: Arc<ServerConfig>, name: &str) -> bool {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let serving = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let mut tls = StreamOwned::new(ServerConnection::new(server).unwrap(), tcp);
            let _ = tls.write_all(b"x");
        });
        let mut roots = RootCertStore::empty();
        roots.add(trusted.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = ClientConnection::new(
            Arc::new(config),
            ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        let mut byte = [0u8; 1];
        let ok = tls.read_exact(&mut byte).is_ok();
        serving.join().unwrap();
        ok
    }

    #[test]
    fn certificates_verify_against_the_test_ca_only() {
        let ca = TestCa::new("mkstick test CA").unwrap();
        assert!(ca.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let names = ["logs.example.com".to_string(), "10.0.2.100".to_string()];
        let config = ca.server_config(&names).unwrap();
        assert!(connect(&ca, Arc::clone(&config), "logs.example.com"));
        assert!(connect(&ca, Arc::clone(&config), "10.0.2.100"));
        // Another name, or a client that trusts another CA: refused.
        assert!(!connect(&ca, Arc::clone(&config), "other.example.com"));
        let other = TestCa::new("another CA").unwrap();
        assert!(!connect(&other, config, "logs.example.com"));
    }
}
