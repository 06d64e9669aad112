//! The faked outside world, on the host's loopback: one HTTPS and one HTTP
//! server for every web endpoint of the stick (routed by Host header), a TLS
//! line receiver for the log service, and the harness's own control server
//! (the guest's reporter and the k3s stand-in post to it). Each connection
//! becomes an [`Observation`].

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::http::{self, Request};
use super::world::{DDNS_HOST, Scheme, World};

#[derive(Debug, Clone)]
pub(crate) enum Observation {
    /// A request to a faked web service, and the status it got.
    Request {
        scheme: Scheme,
        request: Request,
        status: u16,
    },
    /// A TLS handshake with a faked service failed.
    TlsFailed {
        service: &'static str,
        detail: String,
    },
    /// The log service received a line (its content is not kept: journal
    /// lines may carry anything).
    LogLine { tls: String },
    /// The guest reporter's snapshot.
    Report(String),
    /// The k3s stand-in's report.
    Standin(String),
}

pub(crate) type Sink = Arc<dyn Fn(Observation) + Send + Sync>;

/// What the web services answer with.
pub(crate) struct Content {
    pub(crate) world: World,
    pub(crate) standin: Arc<[u8]>,
    /// Served at the stick's ignition.config.url (path and query exact).
    pub(crate) ignition: Option<Arc<[u8]>>,
}

pub(crate) struct Services {
    pub(crate) https_port: u16,
    pub(crate) http_port: u16,
    pub(crate) log_port: u16,
    pub(crate) control_port: u16,
    done: Arc<AtomicBool>,
}

impl Services {
    pub(crate) fn start(
        content: Content,
        web_tls: Arc<ServerConfig>,
        log_tls: Arc<ServerConfig>,
        sink: Sink,
    ) -> Result<Self> {
        let content = Arc::new(content);
        let done = Arc::new(AtomicBool::new(false));

        let (c, s) = (Arc::clone(&content), Arc::clone(&sink));
        let https_port = listen("HTTPS", move |tcp| {
            let Some(mut tls) = handshake(tcp, &web_tls, "web", &s) else {
                return;
            };
            web(&mut tls, Scheme::Https, &c, &s);
        })?;
        let (c, s) = (Arc::clone(&content), Arc::clone(&sink));
        let http_port = listen("HTTP", move |mut tcp| web(&mut tcp, Scheme::Http, &c, &s))?;
        let s = Arc::clone(&sink);
        let log_port = listen("log", move |tcp| {
            let Some(tls) = handshake(tcp, &log_tls, "logexport", &s) else {
                return;
            };
            let version = tls
                .conn
                .protocol_version()
                .map_or_else(|| "TLS".to_string(), |v| format!("{v:?}"));
            for line in BufReader::new(tls).split(b'\n') {
                if line.is_err() {
                    break;
                }
                s(Observation::LogLine {
                    tls: version.clone(),
                });
            }
        })?;
        let (d, s) = (Arc::clone(&done), sink);
        let control_port = listen("control", move |mut tcp| {
            let Ok(request) = http::read_request(&mut tcp) else {
                return;
            };
            let body = String::from_utf8_lossy(&request.body).into_owned();
            let answer: &[u8] = match request.path() {
                "/report" => {
                    s(Observation::Report(body));
                    if d.load(Ordering::SeqCst) {
                        b"done"
                    } else {
                        b"more"
                    }
                }
                "/k3s-standin" => {
                    s(Observation::Standin(body));
                    b"ok"
                }
                _ => b"unknown",
            };
            let _ = http::respond(&mut tcp, 200, answer);
        })?;
        Ok(Self {
            https_port,
            http_port,
            log_port,
            control_port,
            done,
        })
    }

    /// Tells the guest's reporter to stop.
    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// Accepts connections on a free port of 127.0.0.1, each on its own thread.
/// The threads live as long as the process (the command exits after a run).
fn listen(what: &str, handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .with_context(|| format!("starting the {what} server on 127.0.0.1"))?;
    let port = listener.local_addr()?.port();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(600)));
                handle(tcp);
            });
        }
    });
    Ok(port)
}

/// Completes the TLS handshake, reporting a failure (such as the guest
/// refusing the certificate) as an observation.
fn handshake(
    mut tcp: TcpStream,
    config: &Arc<ServerConfig>,
    service: &'static str,
    sink: &Sink,
) -> Option<StreamOwned<ServerConnection, TcpStream>> {
    let mut conn = ServerConnection::new(Arc::clone(config)).ok()?;
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) => return None,
            Ok(_) => {}
            Err(err) => {
                sink(Observation::TlsFailed {
                    service,
                    detail: err.to_string(),
                });
                return None;
            }
        }
    }
    Some(StreamOwned::new(conn, tcp))
}

fn web(
    stream: &mut (impl std::io::Read + std::io::Write),
    scheme: Scheme,
    c: &Content,
    sink: &Sink,
) {
    let Ok(request) = http::read_request(&mut *stream) else {
        return;
    };
    let (status, body) = answer(&request, scheme, c);
    let _ = http::respond(&mut *stream, status, &body);
    sink(Observation::Request {
        scheme,
        request,
        status,
    });
}

fn answer(r: &Request, scheme: Scheme, c: &Content) -> (u16, Arc<[u8]>) {
    let is = |url: &super::world::RawUrl| {
        url.endpoint.scheme == scheme
            && url.endpoint.host == r.host
            && url.target.split('?').next() == Some(r.path())
    };
    let w = &c.world;
    if scheme == Scheme::Https && r.host == DDNS_HOST && r.path() == "/update" {
        // Namecheap's answer to an accepted update.
        let body = "<?xml version=\"1.0\"?><interface-response><Command>SETDNSHOST</Command>\
            <Language>eng</Language><ErrCount>0</ErrCount><Done>true</Done></interface-response>";
        return (200, Arc::from(body.as_bytes()));
    }
    if let Some(release) = w.k3s.as_ref().and_then(|k| k.release.as_ref())
        && is(&release.url)
    {
        return (200, Arc::clone(&c.standin));
    }
    if let (Some(url), Some(config)) = (&w.ignition_url, &c.ignition)
        && is(url)
        && r.target == url.target
    {
        return (200, Arc::clone(config));
    }
    if let Some(url) = &w.heartbeat
        && url.endpoint.scheme == scheme
        && url.endpoint.host == r.host
    {
        return (200, Arc::from(&b"ok\n"[..]));
    }
    (404, Arc::from(&b"not part of this stick's world\n"[..]))
}
