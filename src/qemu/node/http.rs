//! Just enough HTTP/1.1 for the faked services: one request per
//! connection (the answer closes it), over plain TCP or TLS. Requests are
//! read with a bound: a guest cannot make the harness read without end.

use std::io::{self, BufRead, BufReader, Read, Write};

use anyhow::{Context, Result, bail, ensure};

/// Longest request head (request line + headers) and body accepted.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The request target exactly as sent (path and query).
    pub(crate) target: String,
    /// The Host header without its port, lowercased.
    pub(crate) host: String,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The query's parameters, percent-decoded (as bytes: a value may be
    /// any byte string).
    pub(crate) fn query(&self) -> Vec<(String, Vec<u8>)> {
        let Some((_, query)) = self.target.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                    percent_decode(v),
                )
            })
            .collect()
    }
}

/// `%XX` escapes decoded; `+` is a space (curl's --data-urlencode never
/// sends a bare `+`, it writes `%2B`).
pub(crate) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

pub(crate) fn read_request(stream: impl Read) -> Result<Request> {
    let mut reader = BufReader::new(stream.take((MAX_HEAD + MAX_BODY) as u64));
    let mut head = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader
            .read_until(b'\n', &mut line)
            .context("reading the request")?;
        ensure!(n > 0, "the connection closed before the request ended");
        head.extend_from_slice(&line);
        ensure!(head.len() <= MAX_HEAD, "request head over {MAX_HEAD} bytes");
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let request_line = lines.first().context("an empty request")?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        bail!("malformed request line {request_line:?}");
    };
    let header = |name: &str| {
        lines[1..].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let host = header("host").unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
        _ => host,
    }
    .to_ascii_lowercase();
    let length: usize = match header("content-length") {
        Some(v) => v.parse().context("a bad Content-Length")?,
        None => 0,
    };
    ensure!(length <= MAX_BODY, "request body over {MAX_BODY} bytes");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).context("reading the body")?;
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        host,
        body,
    })
}

pub(crate) fn respond(mut stream: impl Write, status: u16, body: &[u8]) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Error",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_with_body_and_host_port() {
        let raw = b"POST /update?host=node1&password=p%20%22q%5C%24%23%C3%A9+x HTTP/1.1\r\nHost: DynDNS.Example:443\r\nContent-Length: 3\r\n\r\nabcEXTRA";
        let r = read_request(&raw[..]).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.host, "dyndns.example");
        assert_eq!(r.path(), "/update");
        assert_eq!(r.body, b"abc");
        let q = r.query();
        assert_eq!(q[0], ("host".to_string(), b"node1".to_vec()));
        assert_eq!(q[1].1, "p \"q\\$#é x".as_bytes());
    }

    #[test]
    fn refuses_oversized_and_truncated_requests() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert!(read_request(&big[..]).is_err());
        assert!(read_request(&b"GET / HTTP/1.1\r\nHost: x\r\n"[..]).is_err());
        let body = b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n";
        assert!(read_request(&body[..]).is_err());
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
    }
}
