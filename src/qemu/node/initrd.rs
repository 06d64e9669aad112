//! The initramfs served to the guest: the test OS's own, plus a small
//! archive of this run's facts (the world's host names, the test CA, where
//! to report, whether sshd runs).

use super::world::Endpoint;

/// `base` with the harness's archive appended (the kernel unpacks
/// concatenated archives in order; each starts 4-byte aligned).
pub(super) fn with_harness(
    base: &[u8],
    endpoints: &[Endpoint],
    ca_pem: &str,
    control_port: u16,
    sshd: bool,
) -> Vec<u8> {
    let hosts = hosts(endpoints);
    let harness = format!("HARNESS_URL=http://10.0.2.2:{control_port}\n");
    let mut files: Vec<(&str, u32, &[u8])> = vec![
        ("etc/mkstick-test/hosts", 0o644, hosts.as_bytes()),
        ("etc/mkstick-test/ca.crt", 0o644, ca_pem.as_bytes()),
        ("etc/mkstick-test/harness", 0o644, harness.as_bytes()),
    ];
    if sshd {
        // The test OS starts sshd only then (--keep).
        files.push(("etc/mkstick-test/keep", 0o644, b"1\n"));
    }
    let archive = crate::plan::cpio::archive(&files);
    let mut out = base.to_vec();
    out.resize(base.len().div_ceil(4) * 4, 0);
    out.extend_from_slice(&archive);
    out
}

/// /etc/hosts lines mapping every host name to its guest address (IP
/// literals need none), each once.
fn hosts(endpoints: &[Endpoint]) -> String {
    let mut hosts = String::new();
    for e in endpoints {
        if e.host.parse::<std::net::IpAddr>().is_err() {
            let line = format!("{} {}\n", e.guest_addr(), e.host);
            if !hosts.contains(&line) {
                hosts.push_str(&line);
            }
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::cpio::find_file;
    use crate::qemu::node::world::Scheme;

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            scheme: Scheme::Https,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn names_map_to_the_world_once_and_sshd_only_when_kept() {
        let endpoints = [
            endpoint("logs.example.com", 6514),
            endpoint("logs.example.com", 443),
            endpoint("10.1.2.3", 443),
        ];
        let out = with_harness(b"abc", &endpoints, "PEM", 4242, false);
        assert_eq!(&out[..4], b"abc\0");
        let archive = &out[4..];
        let hosts = find_file(archive, "etc/mkstick-test/hosts")
            .unwrap()
            .unwrap();
        assert_eq!(hosts, b"10.0.2.100 logs.example.com\n");
        let harness = find_file(archive, "etc/mkstick-test/harness").unwrap();
        assert_eq!(harness.unwrap(), b"HARNESS_URL=http://10.0.2.2:4242\n");
        assert!(
            find_file(archive, "etc/mkstick-test/keep")
                .unwrap()
                .is_none()
        );
        let kept = with_harness(b"", &endpoints, "PEM", 1, true);
        assert!(find_file(&kept, "etc/mkstick-test/keep").unwrap().is_some());
    }
}
