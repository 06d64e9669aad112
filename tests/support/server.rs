//! A static HTTP server on 127.0.0.1 (tiny_http) for tests and benchmarks:
//! serves a directory with Range support, logs every request, and can drop
//! the connection part-way through a file to simulate a flaky network.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Response, StatusCode};

/// One logged request.
#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
}

/// Makes the server stop sending a file after `after` bytes of its body,
/// for the first `times` GET requests of `path`.
#[derive(Clone, Debug)]
pub struct Drop {
    pub path: String,
    pub after: u64,
    pub times: u32,
    /// Keep the connection open, silent, instead of closing it: a stalled
    /// server. Held for up to a minute while the server serves others.
    pub stall: bool,
}

/// A hostile or odd reply for one path, instead of the file.
#[derive(Clone, Debug)]
pub enum Special {
    /// GET sends `body_len` zero bytes chunked, with no Content-Length;
    /// HEAD announces `head_len` (if any) as Content-Length.
    Oversized {
        path: String,
        head_len: Option<u64>,
        body_len: u64,
    },
    /// A 302 redirect to `location` (any scheme, itself included).
    Redirect { path: String, location: String },
}

impl Special {
    fn path(&self) -> &str {
        match self {
            Special::Oversized { path, .. } | Special::Redirect { path, .. } => path,
        }
    }

    fn respond(&self, method: &Method) -> (u16, Response<Body>) {
        match self {
            Special::Oversized {
                head_len, body_len, ..
            } => {
                if *method == Method::Head {
                    let len = head_len.unwrap_or(0);
                    let body: Body = Box::new(io::repeat(0).take(len));
                    return (
                        200,
                        Response::new(
                            StatusCode(200),
                            vec![],
                            body,
                            head_len.map(|l| l as usize),
                            None,
                        )
                        // A Content-Length header whatever the size.
                        .with_chunked_threshold(usize::MAX),
                    );
                }
                let body: Body = Box::new(io::repeat(0).take(*body_len));
                (
                    200,
                    Response::new(StatusCode(200), vec![], body, None, None),
                )
            }
            Special::Redirect { location, .. } => {
                let header = Header::from_bytes("Location", location.as_bytes()).unwrap();
                let (_, resp) = text(302, "moved");
                (302, resp.with_header(header))
            }
        }
    }
}

pub struct Server {
    pub base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    stalled: Arc<AtomicUsize>,
}

impl Server {
    pub fn start(root: &Path) -> Self {
        Self::with_drops(root, Vec::new())
    }

    pub fn with_drops(root: &Path, drops: Vec<Drop>) -> Self {
        Self::with_all(root, drops, Vec::new())
    }

    pub fn with_specials(root: &Path, specials: Vec<Special>) -> Self {
        Self::with_all(root, Vec::new(), specials)
    }

    pub fn with_all(root: &Path, drops: Vec<Drop>, specials: Vec<Special>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("binding 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stalled = Arc::new(AtomicUsize::new(0));
        let thread = {
            let server = Arc::clone(&server);
            let hits = Arc::clone(&hits);
            let stalled = Arc::clone(&stalled);
            let root = root.to_owned();
            let drops = Mutex::new(drops);
            std::thread::spawn(move || {
                for req in server.incoming_requests() {
                    let range = req
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Range"))
                        .map(|h| h.value.as_str().to_owned());
                    let path = req.url().split('?').next().unwrap_or_default().to_owned();
                    let method = req.method().clone();
                    let drop_after = if method == Method::Get {
                        take_drop(&drops, &path)
                    } else {
                        None
                    };
                    let (status, response) = match specials.iter().find(|s| s.path() == path) {
                        Some(special) => special.respond(&method),
                        None => respond(&root, &path, range.as_deref()),
                    };
                    hits.lock().unwrap().push(Hit {
                        method: method.to_string(),
                        path,
                        range,
                        status,
                    });
                    // The client may hang up early (dropped or refused transfers).
                    let _ = match drop_after {
                        Some(d) if d.stall => {
                            let stalled = Arc::clone(&stalled);
                            std::thread::spawn(move || {
                                stalled.fetch_add(1, Ordering::SeqCst);
                                let _ = send_stalled(req, status, response, d.after);
                                stalled.fetch_sub(1, Ordering::SeqCst);
                            });
                            Ok(())
                        }
                        Some(d) => send_cut_short(req, status, response, d.after),
                        None => req.respond(response),
                    };
                }
            })
        };
        Self {
            base: format!("http://127.0.0.1:{port}"),
            hits,
            server,
            thread: Some(thread),
            stalled,
        }
    }

    /// Connections being held open, silent, by a `stall` drop right now.
    pub fn stalled_connections(&self) -> usize {
        self.stalled.load(Ordering::SeqCst)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Bytes of file bodies sent for GETs of `path` (status 200 or 206).
    pub fn gets(&self, path_suffix: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.method == "GET" && h.path.ends_with(path_suffix))
            .collect()
    }

    pub fn clear(&self) {
        self.hits.lock().unwrap().clear();
    }
}

impl std::ops::Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn take_drop(drops: &Mutex<Vec<Drop>>, path: &str) -> Option<Drop> {
    let mut drops = drops.lock().unwrap();
    let d = drops.iter_mut().find(|d| d.path == path && d.times > 0)?;
    d.times -= 1;
    Some(d.clone())
}

type Body = Box<dyn Read + Send>;

fn respond(root: &Path, path: &str, range: Option<&str>) -> (u16, Response<Body>) {
    let Some(file_path) = resolve(root, path) else {
        return text(404, "not found");
    };
    let Ok(mut file) = File::open(&file_path) else {
        return text(404, "not found");
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return text(404, "not found");
    };
    if !file_path.is_file() {
        return text(404, "not found");
    }
    let start = match range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
    {
        Some(n) => match n.parse::<u64>() {
            Ok(n) if n < len => Some(n),
            Ok(_) => {
                let header = Header::from_bytes("Content-Range", format!("bytes */{len}")).unwrap();
                let (status, resp) = text(416, "range not satisfiable");
                return (status, resp.with_header(header));
            }
            Err(_) => return text(400, "bad range"),
        },
        None => None,
    };
    let offset = start.unwrap_or(0);
    file.seek(SeekFrom::Start(offset))
        .expect("seeking the served file");
    let body_len = len - offset;
    let body: Body = Box::new(file);
    let mut headers = vec![Header::from_bytes("Accept-Ranges", "bytes").unwrap()];
    let status = if let Some(start) = start {
        headers.push(
            Header::from_bytes("Content-Range", format!("bytes {start}-{}/{len}", len - 1))
                .unwrap(),
        );
        206
    } else {
        200
    };
    // A fixed Content-Length (never chunked), so a dropped connection shows
    // as an incomplete body, as it would from nginx serving a file.
    let resp = Response::new(
        StatusCode(status),
        headers,
        body,
        Some(body_len as usize),
        None,
    )
    .with_chunked_threshold(usize::MAX);
    (status, resp)
}

/// Sends the head of `response` and only `after` bytes of its body, then
/// closes the connection, as a broken network would.
fn send_cut_short(
    req: tiny_http::Request,
    status: u16,
    response: Response<Body>,
    after: u64,
) -> io::Result<()> {
    send_head_and(req, status, response, after).map(drop)
    // Dropping the writer shuts the socket down for writing: the client sees
    // the body end early.
}

/// Sends the head and `after` bytes of the body, then nothing more while
/// keeping the connection open (up to a minute).
fn send_stalled(
    req: tiny_http::Request,
    status: u16,
    response: Response<Body>,
    after: u64,
) -> io::Result<()> {
    let _open = send_head_and(req, status, response, after)?;
    std::thread::sleep(std::time::Duration::from_secs(60));
    Ok(())
}

/// Writes the status line, headers and the first `after` body bytes;
/// returns the still-open writer.
fn send_head_and(
    req: tiny_http::Request,
    status: u16,
    response: Response<Body>,
    after: u64,
) -> io::Result<Box<dyn Write + Send>> {
    let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    for h in response.headers() {
        head.push_str(&format!("{}: {}\r\n", h.field, h.value));
    }
    let len = response.data_length().unwrap_or(0);
    head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    let mut out = req.into_writer();
    out.write_all(head.as_bytes())?;
    io::copy(&mut response.into_reader().take(after), &mut out)?;
    out.flush()?;
    Ok(out)
}

fn text(status: u16, body: &str) -> (u16, Response<Body>) {
    let bytes = body.as_bytes().to_vec();
    let len = bytes.len();
    let body: Body = Box::new(io::Cursor::new(bytes));
    (
        status,
        Response::new(StatusCode(status), vec![], body, Some(len), None),
    )
}

/// Maps a URL path under `root`, refusing anything that could escape it.
/// Percent-escapes are decoded first, as nginx or Apache do (k3s tags hold
/// a `+`, written `%2B` in release URLs).
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

/// `%XX` to its byte; `None` for a malformed escape or a decoded `/` or NUL.
fn percent_decode(path: &str) -> Option<String> {
    let mut out = Vec::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = [bytes.next()?, bytes.next()?];
        let byte = u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?;
        if byte == b'/' || byte == 0 {
            return None;
        }
        out.push(byte);
    }
    String::from_utf8(out).ok()
}
