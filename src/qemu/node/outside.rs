//! The outside world of one run, set up before the VM starts: the test CA,
//! the faked services with their certificates, and the QEMU guest forwards
//! that route each endpoint the stick names to the service playing it.

use std::sync::Arc;

use anyhow::{Result, ensure};

use super::services::{Content, Services, Sink};
use super::tls::TestCa;
use super::world::{Endpoint, Scheme, World};
use super::{NodeOptions, testos};
use crate::qemu::vm::GuestForward;

/// The running services and how the guest reaches them.
pub(super) struct Outside {
    pub(super) world: World,
    /// Every endpoint the node connects to, each once.
    pub(super) endpoints: Vec<Endpoint>,
    /// One per endpoint, in the same order.
    pub(super) forwards: Vec<GuestForward>,
    pub(super) services: Services,
    /// The test CA's certificate, which only the test OS trusts.
    pub(super) ca_pem: String,
    /// sha256 of the k3s stand-in served at the pinned release URL.
    pub(super) standin_sha256: String,
}

impl Outside {
    /// Starts the services for `world`; `ignition` is served at the stick's
    /// ignition.config.url. Observations go to `sink`.
    pub(super) fn start(
        world: World,
        ignition: Option<Arc<[u8]>>,
        node: &NodeOptions,
        sink: Sink,
    ) -> Result<Self> {
        let ca = TestCa::new("mkstick qemu-test CA (trusted by the test OS only)")?;
        let endpoints = world.endpoints();
        let web_names: Vec<String> = endpoints
            .iter()
            .filter(|e| world.log.as_ref() != Some(*e))
            .map(|e| e.host.clone())
            .collect();
        let web_tls = ca.server_config(&names_or_placeholder(web_names))?;
        let log_names = names_or_placeholder(world.log.iter().map(|l| l.host.clone()).collect());
        let log_tls = if node.untrusted_log_ca {
            TestCa::new("an untrusted CA")?.server_config(&log_names)?
        } else {
            ca.server_config(&log_names)?
        };
        let standin: Arc<[u8]> = Arc::from(testos::K3S_STANDIN.as_bytes());
        let standin_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&standin));
        let services = Services::start(
            Content {
                world: world.clone(),
                standin,
                ignition,
            },
            web_tls,
            log_tls,
            sink,
        )?;
        let forwards = guest_forwards(&world, &endpoints, &services);
        check_forwards(&forwards)?;
        Ok(Self {
            world,
            endpoints,
            forwards,
            services,
            ca_pem: ca.pem,
            standin_sha256,
        })
    }
}

/// rcgen needs at least one name; a world without web endpoints gets one
/// nobody asks for.
fn names_or_placeholder(mut names: Vec<String>) -> Vec<String> {
    if names.is_empty() {
        names.push("unused.invalid".into());
    }
    names
}

/// Two endpoints on the same guest address and port cannot be told apart.
fn check_forwards(forwards: &[GuestForward]) -> Result<()> {
    for (i, a) in forwards.iter().enumerate() {
        for b in &forwards[i + 1..] {
            ensure!(
                !(a.guest == b.guest && a.port == b.port && a.host_port != b.host_port),
                "two services of the stick share {}:{} with different protocols (the log service \
                 and a web endpoint?); give them different ports",
                a.guest,
                a.port
            );
        }
    }
    Ok(())
}

/// Each endpoint the stick names, forwarded from its guest address to the
/// harness service that plays it.
fn guest_forwards(world: &World, endpoints: &[Endpoint], services: &Services) -> Vec<GuestForward> {
    endpoints
        .iter()
        .map(|e| GuestForward {
            guest: e.guest_addr(),
            port: e.port,
            host_port: if world.log.as_ref() == Some(e) {
                services.log_port
            } else if e.scheme == Scheme::Https {
                services.https_port
            } else {
                services.http_port
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn one_address_and_port_carries_one_protocol() {
        let at = |port, host_port| GuestForward {
            guest: Ipv4Addr::new(10, 0, 2, 100),
            port,
            host_port,
        };
        assert!(check_forwards(&[at(443, 1), at(6514, 2)]).is_ok());
        assert!(check_forwards(&[at(443, 1), at(443, 1)]).is_ok());
        let err = check_forwards(&[at(443, 1), at(443, 2)]).unwrap_err();
        assert!(err.to_string().contains("10.0.2.100:443"), "{err}");
    }
}
