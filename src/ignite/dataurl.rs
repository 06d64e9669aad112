//! `data:` URLs as the reference tools write them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// RFC 2396 escaping as Go's `dataurl.Escape` does it: unreserved
/// characters stay, everything else (space and `/` included) becomes `%XX`.
pub fn escape(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(data.len() * 3 / 2);
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
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
    let mut best = format!(",{}", escape(data));
    let b64 = format!(";base64,{}", STANDARD.encode(data));
    if b64.len() < best.len() {
        best = b64;
    }
    let mut compression = user_compression.unwrap_or("").to_string();
    // gzip framing alone is 18 bytes (24 base64 characters), so a candidate
    // of 8 + 28 + 4 characters or more can never beat a URL this short.
    if user_compression.is_none() && best.len() > 40 {
        let gz = format!(";base64,{}", STANDARD.encode(super::gzip::gzip(data)));
        if gz.len() + "gzip".len() < best.len() {
            best = gz;
            compression = "gzip".to_string();
        }
    }
    Encoded {
        url: format!("data:{best}"),
        compression,
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
}
