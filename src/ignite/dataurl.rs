//! `data:` URLs as the reference tools write them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Bytes that RFC 2396 escaping (Go's `dataurl.Escape`) leaves as they are.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
}

/// RFC 2396 escaping as Go's `dataurl.Escape` does it: unreserved
/// characters stay, everything else (space and `/` included) becomes `%XX`.
pub fn escape(data: &[u8]) -> String {
    let mut out = String::with_capacity(escaped_len(data));
    escape_into(data, &mut out);
    out
}

fn escape_into(data: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in data {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

fn escaped_len(data: &[u8]) -> usize {
    data.iter()
        .map(|&b| if unreserved(b) { 1 } else { 3 })
        .sum()
}

/// Length of standard padded base64 for `n` bytes.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// ct: always `data:,` plus escaping.
pub fn plain(data: &[u8]) -> String {
    format!("data:,{}", escape(data))
}

/// A Butane-encoded resource: the URL and the `compression` value to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub url: String,
    pub compression: String,
}

/// Butane's `MakeDataURL`: the shortest of percent-escaped, base64 and
/// (when the user set no compression) gzip+base64. Gzip must win by more
/// than the length of the word "gzip"; on ties the earlier candidate wins.
pub fn shortest(data: &[u8], user_compression: Option<&str>) -> Encoded {
    let user_compression = user_compression.filter(|c| !c.is_empty());
    // Lengths first, so that only the winner is ever encoded.
    let escaped = ",".len() + escaped_len(data);
    let base64 = ";base64,".len() + base64_len(data.len());
    let mut best = if base64 < escaped {
        Candidate::Base64(data.len())
    } else {
        Candidate::Escaped(escaped)
    };
    // gzip framing alone is 18 bytes (24 base64 characters), so a candidate
    // of 8 + 28 + 4 characters or more can never beat a URL this short.
    let mut gzipped = None;
    if user_compression.is_none() && best.len() > 40 {
        let gz = super::gzip::gzip(data);
        if ";base64,".len() + base64_len(gz.len()) + "gzip".len() < best.len() {
            best = Candidate::Base64(gz.len());
            gzipped = Some(gz);
        }
    }
    let mut url = String::with_capacity("data:".len() + best.len());
    url.push_str("data:");
    match best {
        Candidate::Escaped(_) => {
            url.push(',');
            escape_into(data, &mut url);
        }
        Candidate::Base64(_) => {
            url.push_str(";base64,");
            STANDARD.encode_string(gzipped.as_deref().unwrap_or(data), &mut url);
        }
    }
    let compression = match (&gzipped, user_compression) {
        (Some(_), _) => "gzip",
        (None, user) => user.unwrap_or(""),
    };
    Encoded {
        url,
        compression: compression.to_string(),
    }
}

/// A data URL form, by the length of what follows `data:`.
enum Candidate {
    /// `,` + percent-escaped bytes; holds the whole length.
    Escaped(usize),
    /// `;base64,` + base64 of this many bytes.
    Base64(usize),
}

impl Candidate {
    fn len(&self) -> usize {
        match *self {
            Candidate::Escaped(len) => len,
            Candidate::Base64(n) => ";base64,".len() + base64_len(n),
        }
    }
}

/// Decodes a `data:` URL (percent or base64 form) to its bytes.
pub fn decode(url: &str) -> Option<Vec<u8>> {
    let rest = url.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    if meta.ends_with(";base64") {
        return STANDARD.decode(payload).ok();
    }
    let bytes = payload.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if bytes[i] == b'%' {
            return None;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    #[test]
    fn escapes_like_go() {
        assert_eq!(plain(b"hello world"), "data:,hello%20world");
        assert_eq!(escape(b"#!/bin/sh (x)'~*"), "%23!%2Fbin%2Fsh%20(x)'~*");
        assert_eq!(escape("→".as_bytes()), "%E2%86%92");
        assert_eq!(plain(b""), "data:,");
    }

    #[test]
    fn chooses_the_shortest() {
        let short = shortest(b"edge-rack-07", None);
        assert_eq!(
            short,
            Encoded {
                url: "data:,edge-rack-07".into(),
                compression: String::new()
            }
        );
        let json = br#"{"role":"agent","labels":{"rack":"07"},"dns":["1.1.1.1"]}"#;
        assert!(shortest(json, None).url.starts_with("data:;base64,"));
        let long = "=".repeat(80) + "\n";
        let big = shortest(long.repeat(4).as_bytes(), None);
        assert_eq!(big.compression, "gzip");
        // User-compressed data is never compressed again.
        let kept = shortest(long.repeat(4).as_bytes(), Some("gzip"));
        assert_eq!(kept.compression, "gzip");
        assert!(!kept.url.starts_with("data:;base64,H4sI"));
    }

    #[test]
    fn decode_round_trips() {
        for data in [&b"a b/c%"[..], b"", "ünï".as_bytes()] {
            assert_eq!(decode(&plain(data)).unwrap(), data);
            assert_eq!(
                decode(&format!("data:;base64,{}", STANDARD.encode(data))).unwrap(),
                data
            );
        }
        assert_eq!(decode("data:,%4"), None);
    }

    /// The rule as written in docs: build all three URLs, keep the shortest.
    fn shortest_by_building_all(data: &[u8], user: Option<&str>) -> Encoded {
        let mut best = format!(",{}", escape(data));
        let b64 = format!(";base64,{}", STANDARD.encode(data));
        if b64.len() < best.len() {
            best = b64;
        }
        let mut compression = user.unwrap_or("").to_string();
        if user.is_none() {
            let gz = format!(
                ";base64,{}",
                STANDARD.encode(super::super::gzip::gzip(data))
            );
            if gz.len() + "gzip".len() < best.len() {
                best = gz;
                compression = "gzip".into();
            }
        }
        Encoded {
            url: format!("data:{best}"),
            compression,
        }
    }

    proptest::proptest! {
        #[test]
        fn encodes_only_the_winner_of_the_same_rule(
            data in proptest::prop_oneof![
                "[ -~\n]{0,400}".prop_map(String::into_bytes),
                "[a=\n]{0,400}".prop_map(String::into_bytes),
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            ],
            user in proptest::option::of(proptest::prop_oneof!["gzip", ""]),
        ) {
            let user = user.as_deref().filter(|c| !c.is_empty());
            proptest::prop_assert_eq!(shortest(&data, user), shortest_by_building_all(&data, user));
        }
    }
}
