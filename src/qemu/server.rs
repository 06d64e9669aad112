//! The HTTP server the guest boots from (QEMU user networking shows the
//! host's 127.0.0.1 as 10.0.2.2). It serves the payload under the Flatcar
//! file names the boot script asks for and reports every request.

use std::io::Cursor;
use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};

use anyhow::{Context, Result, anyhow};
use tiny_http::{Header, Response, Server, StatusCode};

use super::Event;
use crate::model::flatcar::{INITRD, KERNEL};

/// Kernel names: the PXE name and the generalised one it now links to.
pub(super) const KERNEL_NAMES: [&str; 2] = [KERNEL, "flatcar_production_image.vmlinuz"];
pub(super) const INITRD_NAME: &str = INITRD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Kernel,
    Initrd,
}

fn route(url: &str) -> Option<Route> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    if KERNEL_NAMES
        .iter()
        .any(|name| path.ends_with(&format!("/{name}")))
    {
        Some(Route::Kernel)
    } else if path.ends_with(&format!("/{INITRD_NAME}")) {
        Some(Route::Initrd)
    } else {
        None
    }
}

/// The bytes served; set once the stick (which needs the port) is known.
struct Files {
    kernel: Arc<[u8]>,
    initrd: Arc<[u8]>,
}

pub(super) struct PayloadServer {
    server: Arc<Server>,
    files: Arc<OnceLock<Files>>,
    thread: Option<JoinHandle<()>>,
    pub port: u16,
}

impl PayloadServer {
    /// Listens on 127.0.0.1:`port` (0: any free port) until dropped. It
    /// answers 503 until [`PayloadServer::serve`] gives it the files.
    pub(super) fn start(port: u16, events: Sender<Event>) -> Result<Self> {
        let server = Server::http(("127.0.0.1", port))
            .map_err(|err| anyhow!("{err}"))
            .with_context(|| format!("starting the payload HTTP server on 127.0.0.1:{port}"))?;
        let port = server
            .server_addr()
            .to_ip()
            .context("the payload server has no IP address")?
            .port();
        let server = Arc::new(server);
        let files = Arc::new(OnceLock::<Files>::new());
        let (serving, served) = (Arc::clone(&server), Arc::clone(&files));
        let thread = thread::spawn(move || {
            for request in serving.incoming_requests() {
                let url = request.url().to_string();
                let Some(files) = served.get() else {
                    let _ = events.send(Event::Http {
                        path: url,
                        status: 503,
                    });
                    let _ =
                        request.respond(Response::from_string("not ready\n").with_status_code(503));
                    continue;
                };
                let body = match route(&url) {
                    Some(Route::Kernel) => Some(Arc::clone(&files.kernel)),
                    Some(Route::Initrd) => Some(Arc::clone(&files.initrd)),
                    None => None,
                };
                let status = if body.is_some() { 200 } else { 404 };
                let _ = events.send(Event::Http { path: url, status });
                let result = match body {
                    Some(body) => {
                        let len = body.len();
                        let kind = Header::from_bytes("Content-Type", "application/octet-stream")
                            .expect("static header is valid");
                        // With tiny_http's default, bodies over 32 KiB go out
                        // chunked, and iPXE then stalls at 99% for ~20 s.
                        let response = Response::new(
                            StatusCode(200),
                            vec![kind],
                            Cursor::new(body),
                            Some(len),
                            None,
                        )
                        .with_chunked_threshold(usize::MAX);
                        request.respond(response)
                    }
                    None => request.respond(
                        Response::from_string("not a payload file\n").with_status_code(404),
                    ),
                };
                // The guest may drop the connection (iPXE does on errors): keep serving.
                drop(result);
            }
        });
        Ok(Self {
            server,
            files,
            thread: Some(thread),
            port,
        })
    }

    /// Starts serving `kernel` and `initrd`. Only the first call counts.
    pub(super) fn serve(&self, kernel: Arc<[u8]>, initrd: Arc<[u8]>) {
        let _ = self.files.set(Files { kernel, initrd });
    }
}

impl Drop for PayloadServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    #[test]
    fn routes_by_file_name() {
        assert_eq!(
            route("/stable/amd64-usr/4593.2.5/flatcar_production_pxe.vmlinuz"),
            Some(Route::Kernel)
        );
        assert_eq!(
            route("/alpha/amd64-usr/current/flatcar_production_image.vmlinuz?x=1"),
            Some(Route::Kernel)
        );
        assert_eq!(
            route("/a/flatcar_production_pxe_image.cpio.gz"),
            Some(Route::Initrd)
        );
        assert_eq!(route("/a/flatcar_production_pxe_image.cpio.gz.sig"), None);
        assert_eq!(route("/flatcar_production_pxe.vmlinuzX"), None);
        assert_eq!(route("/"), None);
    }

    fn get(port: u16, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn serves_payload_and_reports_requests() {
        let (tx, rx) = std::sync::mpsc::channel();
        let server = PayloadServer::start(0, tx).unwrap();
        assert!(get(server.port, "/x/flatcar_production_pxe.vmlinuz").contains(" 503 "));
        server.serve(Arc::from(&b"KERNEL"[..]), Arc::from(&b"INITRD"[..]));
        let kernel = get(
            server.port,
            "/stable/amd64-usr/1/flatcar_production_pxe.vmlinuz",
        );
        assert!(kernel.starts_with("HTTP/1.1 200"), "{kernel}");
        // A plain body with its length: iPXE stalls on chunked ones.
        assert!(
            kernel.contains("Content-Length: 6\r\n") && !kernel.contains("chunked"),
            "{kernel}"
        );
        assert!(kernel.ends_with("\r\n\r\nKERNEL"), "{kernel}");
        assert!(get(server.port, "/x/flatcar_production_pxe_image.cpio.gz").ends_with("INITRD"));
        assert!(get(server.port, "/x/missing.vmlinuz").contains(" 404 "));
        drop(server);
        let seen: Vec<(String, u16)> = rx
            .iter()
            .filter_map(|e| match e {
                Event::Http { path, status } => Some((path, status)),
                _ => None,
            })
            .collect();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[3], ("/x/missing.vmlinuz".to_string(), 404));
    }
}
