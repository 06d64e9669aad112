//! Value formats of secret and node inputs, and their validation.

use anyhow::{Result, bail, ensure};
use serde::Deserialize;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Any single-line text.
    Text,
    /// An RFC 1123 host name (or FQDN).
    Hostname,
    /// A TCP port, 1–65535.
    Port,
    /// An http:// or https:// URL.
    HttpUrl,
    /// An https:// URL.
    HttpsUrl,
    /// A Linux network interface name.
    Interface,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Hostname => "host name (RFC 1123)",
            Format::Port => "port 1–65535",
            Format::HttpUrl => "http(s) URL",
            Format::HttpsUrl => "https URL",
            Format::Interface => "interface name",
        }
    }

    pub fn json_schema(self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Format::Text => json!({ "type": "string", "pattern": "^[^\\n\\r\\u0000]*$" }),
            Format::Hostname => json!({ "type": "string", "format": "hostname" }),
            Format::Port => json!({ "type": "string", "pattern": "^[1-9][0-9]{0,4}$" }),
            Format::HttpUrl => {
                json!({ "type": "string", "format": "uri", "pattern": "^https?://" })
            }
            Format::HttpsUrl => {
                json!({ "type": "string", "format": "uri", "pattern": "^https://" })
            }
            Format::Interface => json!({ "type": "string", "pattern": "^[^/\\s:]{1,15}$" }),
        }
    }

    /// Checks `value`; the error says what is wrong without repeating the value
    /// (it may be secret).
    pub fn check(self, value: &str) -> Result<()> {
        ensure!(!value.is_empty(), "is empty");
        ensure!(
            !value.trim().is_empty(),
            "is only whitespace; give a value, or remove the key"
        );
        ensure!(
            !value.contains(['\n', '\r', '\0']),
            "contains a newline or NUL byte, which an EnvironmentFile cannot hold"
        );
        match self {
            Format::Text => Ok(()),
            Format::Hostname => check_hostname(value),
            Format::Port => check_port(value),
            Format::HttpUrl => check_url(value, &["http", "https"]).map(drop),
            Format::HttpsUrl => check_url(value, &["https"]).map(drop),
            Format::Interface => {
                ensure!(
                    value.len() <= 15
                        && !value.contains(['/', ':'])
                        && !value.contains(char::is_whitespace),
                    "must be a network interface name (at most 15 characters, no '/', ':' or spaces)"
                );
                Ok(())
            }
        }
    }
}

/// Plain decimal 1–65535: no sign, no spaces, and no leading zero (`080`
/// reads as octal to some tools, so it is refused rather than guessed).
fn check_port(value: &str) -> Result<()> {
    ensure!(
        value.bytes().all(|b| b.is_ascii_digit()),
        "must be a port number from 1 to 65535 in plain decimal digits (no sign or spaces)"
    );
    ensure!(
        !value.starts_with('0'),
        "must be a port number from 1 to 65535 without leading zeros"
    );
    match value.parse::<u32>() {
        Ok(1..=65535) => Ok(()),
        _ => bail!("must be a port number from 1 to 65535"),
    }
}

pub(crate) fn check_hostname(value: &str) -> Result<()> {
    ensure!(
        value.len() <= 253,
        "must be a host name of at most 253 characters"
    );
    for label in value.strip_suffix('.').unwrap_or(value).split('.') {
        ensure!(
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-'),
            "must be a host name (RFC 1123: labels of 1–63 letters, digits and inner hyphens, separated by dots)"
        );
    }
    Ok(())
}

pub(crate) fn check_url(value: &str, schemes: &[&str]) -> Result<url::Url> {
    let url = url::Url::parse(value).map_err(|e| anyhow::anyhow!("is not a valid URL ({e})"))?;
    ensure!(
        schemes.contains(&url.scheme()),
        "must be a {} URL",
        schemes.join(" or ")
    );
    ensure!(url.host_str().is_some_and(|h| !h.is_empty()), "has no host");
    ensure!(!value.contains(char::is_whitespace), "contains spaces");
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(Format::Hostname.check("logs1.papertrailapp.com").is_ok());
        assert!(Format::Hostname.check("-bad.example").is_err());
        assert!(Format::Hostname.check("under_score").is_err());
        assert!(Format::Port.check("6514").is_ok());
        for bad in [
            "0",
            "65536",
            "080",
            "x",
            "",
            "+80",
            " 80",
            "8 0",
            "99999999999",
        ] {
            assert!(Format::Port.check(bad).is_err(), "{bad}");
        }
        assert!(Format::HttpUrl.check("https://hc-ping.com/abc").is_ok());
        assert!(Format::HttpUrl.check("ftp://x/").is_err());
        assert!(Format::HttpsUrl.check("http://10.0.0.2:6443").is_err());
        assert!(Format::Text.check("a\nb").is_err());
        assert!(Format::Text.check("nul\0").is_err());
        assert!(Format::Text.check(" \t ").is_err());
        assert!(Format::Interface.check("enp3s0").is_ok());
        assert!(Format::Interface.check("a/b").is_err());
    }

    #[test]
    fn errors_never_echo_the_value() {
        let err = Format::HttpUrl
            .check("ftp://secret-token@host/")
            .unwrap_err();
        assert!(!format!("{err:#}").contains("secret-token"));
    }
}
