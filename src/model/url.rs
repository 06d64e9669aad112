//! The URLs a user names for a stick, each checked once, when the command
//! line is parsed (`value_parser`): nothing later parses them again.
//!
//! Each type's rules come from where the URL goes: [`BaseUrl`] and
//! [`ConfigUrl`] end up on lines of the boot script (so the script-line
//! rules of [`check_script_safe`] apply) and in the plain-text manifest;
//! [`IpxeUrl`] is downloaded by mkstick itself.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, anyhow, bail, ensure};
use serde::Serialize;
use url::Url;

use super::flatcar::DEFAULT_BASE_URL;
use super::script::check_script_safe;

/// `--base-url`: the directory holding Flatcar's releases (the CDN or a
/// mirror). The boot script appends `/<channel>/<arch>-usr/<version>/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(Url);

/// `--ignition-url` (or `IGN_PATH`): the public Ignition config the node
/// fetches at boot, passed as `ignition.config.url=` on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigUrl(Url);

/// `--ipxe-url`: where mkstick downloads the amd64 iPXE binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpxeUrl(Url);

const BASE_FLAG: &str = "--base-url";
const CONFIG_FLAG: &str = "--ignition-url / IGN_PATH";
const IPXE_FLAG: &str = "--ipxe-url";

/// The schemes Flatcar's Ignition fetches `ignition.config.url` from on bare
/// metal (flatcar/ignition `docs/supported-platforms.md`). `oem://` is left
/// out: it names a file in the node's OEM directory, which only an
/// embedded config (`--ignition`) puts there.
const CONFIG_SCHEMES: [&str; 5] = ["http", "https", "tftp", "s3", "gs"];

impl BaseUrl {
    /// The URL without its trailing `/`: what the script appends to and
    /// what the manifest records.
    pub fn as_str(&self) -> &str {
        let s = self.0.as_str();
        s.strip_suffix('/').unwrap_or(s)
    }
}

impl Default for BaseUrl {
    fn default() -> Self {
        DEFAULT_BASE_URL
            .parse()
            .expect("the Flatcar CDN's URL is a valid --base-url")
    }
}

impl FromStr for BaseUrl {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Self> {
        check_script_safe(BASE_FLAG, text)?;
        let mut url = parse(text, BASE_FLAG, &["http", "https"])?;
        ensure!(
            url.query().is_none() && url.fragment().is_none() && !text.contains(['?', '#']),
            "{BASE_FLAG} {text:?} has a query or fragment ('?' or '#'): the boot script appends /<channel>/<arch>-usr/<version>/ to it, so give the bare directory URL"
        );
        // One form for `http://h/flatcar`, `http://h/flatcar/` and `…//`.
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
        Ok(Self(url))
    }
}

impl ConfigUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for ConfigUrl {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Self> {
        // A file path here is a common mix-up with --ignition.
        ensure!(
            text.contains("://"),
            "{CONFIG_FLAG} {text:?} is not a URL; to embed a config file use --ignition FILE"
        );
        check_script_safe("--ignition-url", text)?;
        if text.starts_with("oem:") {
            bail!(
                "{CONFIG_FLAG} {text:?}: an oem:// URL names a file the stick does not put on the node; to embed a config use --ignition FILE"
            );
        }
        parse(text, CONFIG_FLAG, &CONFIG_SCHEMES).map(Self)
    }
}

impl IpxeUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for IpxeUrl {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Self> {
        ensure!(
            !text.contains(char::is_control),
            "{IPXE_FLAG} contains a control character (such as NUL, a newline or ESC)"
        );
        parse(text, IPXE_FLAG, &["http", "https"]).map(Self)
    }
}

/// A URL of one of `schemes`, with a host and without credentials (they
/// would be printed, and written to the stick in plain text).
fn parse(text: &str, flag: &str, schemes: &[&str]) -> Result<Url> {
    ensure!(
        !text.contains(char::is_whitespace),
        "{flag} {text:?}: contains spaces"
    );
    let url = Url::parse(text).map_err(|e| {
        anyhow!("{flag} {text:?}: is not a valid URL ({e}); write it out in full, like https://host/path")
    })?;
    ensure!(
        schemes.contains(&url.scheme()),
        "{flag} {text:?}: must be a {} URL",
        schemes.join(" or ")
    );
    ensure!(
        url.host_str().is_some_and(|h| !h.is_empty()),
        "{flag} {text:?}: has no host"
    );
    ensure!(
        url.username().is_empty() && url.password().is_none(),
        "{flag}: the URL holds a user name or password, which mkstick would print and write to the stick in plain text; give a URL without credentials"
    );
    Ok(url)
}

macro_rules! as_text {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
as_text!(BaseUrl, ConfigUrl, IpxeUrl);

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: FromStr<Err = anyhow::Error>>(text: &str) -> String {
        match text.parse::<T>() {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn base_urls_take_one_form_without_a_trailing_slash() {
        assert_eq!(BaseUrl::default().as_str(), DEFAULT_BASE_URL);
        for (given, form) in [
            ("https://flatcar.cdn.cncf.io", "https://flatcar.cdn.cncf.io"),
            (
                "https://flatcar.cdn.cncf.io/",
                "https://flatcar.cdn.cncf.io",
            ),
            ("http://10.0.2.2:8080", "http://10.0.2.2:8080"),
            ("http://mirror.lan/flatcar/", "http://mirror.lan/flatcar"),
            ("http://mirror.lan/flatcar//", "http://mirror.lan/flatcar"),
            ("HTTP://Mirror.LAN/a", "http://mirror.lan/a"),
        ] {
            let url: BaseUrl = given.parse().unwrap();
            assert_eq!(url.as_str(), form, "{given}");
            assert_eq!(url.to_string(), form);
            assert_eq!(serde_json::to_string(&url).unwrap(), format!("\"{form}\""));
        }
    }

    #[test]
    fn base_urls_are_refused_with_the_reason() {
        for (bad, says) in [
            ("ftp://mirror.lan/flatcar", "must be a http or https URL"),
            ("file:///srv/flatcar", "must be a http or https URL"),
            ("mirror.lan/flatcar", "is not a valid URL"),
            (
                "https://mirror.example/flatcar?x=1",
                "has a query or fragment",
            ),
            (
                "https://mirror.example/flatcar#top",
                "has a query or fragment",
            ),
            ("https://mirror.example/flatcar?", "has a query or fragment"),
            ("https://u:pw@mirror.example/", "user name or password"),
            ("https://mirror.example/\u{7f}x", "control character"),
            ("https://mirror.example/${x}", "may not contain spaces"),
            ("https://mirror.example/a b", "may not contain spaces"),
        ] {
            let e = err::<BaseUrl>(bad);
            assert!(e.contains("--base-url") && e.contains(says), "{bad:?}: {e}");
        }
        // Credentials are not echoed.
        assert!(!err::<BaseUrl>("https://u:hunter2@h/").contains("hunter2"));
    }

    #[test]
    fn config_urls_take_the_schemes_ignition_fetches() {
        for ok in [
            "https://example.com/n.ign",
            "http://10.0.0.1:8080/n.ign?token=abc",
            "tftp://10.0.0.1/n.ign",
            "s3://bucket/n.ign",
            "gs://bucket/n.ign",
        ] {
            assert_eq!(ok.parse::<ConfigUrl>().unwrap().as_str(), ok);
        }
        for (bad, says) in [
            ("/srv/node.ign", "use --ignition FILE"),
            ("node.ign", "is not a URL"),
            (
                "file:///etc/n.ign",
                "must be a http or https or tftp or s3 or gs URL",
            ),
            ("data://x,{}", "must be a http"),
            ("oem:///config.ign", "use --ignition FILE"),
            ("tftp:///n.ign", "has no host"),
            ("https://u:p@h/n.ign", "user name or password"),
            ("https://h/n.ign\u{1b}[2J", "control character"),
            ("https://h/$x", "may not contain"),
        ] {
            let e = err::<ConfigUrl>(bad);
            assert!(
                e.contains("--ignition-url") && e.contains(says),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn ipxe_urls_are_http_downloads() {
        let url: IpxeUrl = "http://127.0.0.1:8000/ipxe.efi".parse().unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8000/ipxe.efi");
        for (bad, says) in [
            ("ftp://h/ipxe.efi", "must be a http or https URL"),
            ("ipxe.efi", "is not a valid URL"),
            ("https://h/ipxe .efi", "contains spaces"),
            ("https://h/\u{0}", "control character"),
            ("https://me:pw@h/ipxe.efi", "user name or password"),
        ] {
            let e = err::<IpxeUrl>(bad);
            assert!(e.contains("--ipxe-url") && e.contains(says), "{bad:?}: {e}");
        }
    }

    /// The script's refusal of control characters has two layers: the text
    /// is checked before parsing, and a parsed `Url` cannot hold one anyway
    /// (the parser drops tabs and newlines and percent-encodes the rest), so
    /// no value of these types can put one on a script line.
    #[test]
    fn control_characters_cannot_survive_url_parsing() {
        let controls = (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32);
        for c in controls {
            for text in [
                format!("https://h/a{c}b"),
                format!("https://h/a?q={c}"),
                format!("https://h{c}x/"),
                format!("{c}https://h/"),
            ] {
                if let Ok(url) = Url::parse(&text) {
                    assert!(
                        !url.as_str().contains(char::is_control),
                        "{text:?} parsed to {:?}",
                        url.as_str()
                    );
                }
                assert!(text.parse::<BaseUrl>().is_err(), "{text:?}");
                assert!(text.parse::<ConfigUrl>().is_err(), "{text:?}");
                assert!(text.parse::<IpxeUrl>().is_err(), "{text:?}");
            }
        }
    }
}
