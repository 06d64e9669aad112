//! Downloads: streamed to `NAME.part` while inspectors hash it, resumed with
//! HTTP Range after a dropped connection, renamed only by [`PartFile::commit`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONNECTION, CONTENT_LENGTH, CONTENT_RANGE, RANGE};

use super::inspect::{Chunk, Feed};
use super::progress::{FileProgress, Progress};

mod redirect;

/// Bytes read from the network (or from a resumed `.part`) per chunk.
const CHUNK: usize = 256 * 1024;

/// When to give up on a flaky server.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Consecutive attempts that bring no new byte before the download fails.
    pub attempts: u32,
    /// Pause before such an attempt, multiplied by its number.
    pub backoff: Duration,
    /// A connection that sends no byte for this long counts as dropped.
    pub stall: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            backoff: Duration::from_secs(2),
            stall: Duration::from_secs(60),
        }
    }
}

/// Why one attempt failed.
enum Failure {
    /// Worth another attempt (connection trouble, 5xx).
    Retry(anyhow::Error),
    /// Another attempt would fail the same way (404, bad range reply, disk error).
    Fatal(anyhow::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Fatal(e.into())
    }
}

/// Fetches files over HTTP(S) with progress, retries and resume.
pub struct Fetcher {
    client: Client,
    progress: Progress,
    policy: RetryPolicy,
}

impl Fetcher {
    pub fn new(progress: Progress) -> Result<Self> {
        Self::with_retry_policy(progress, RetryPolicy::default())
    }

    pub fn with_retry_policy(progress: Progress, policy: RetryPolicy) -> Result<Self> {
        Ok(Self {
            client: super::client::build(policy.stall)?,
            progress,
            policy,
        })
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The size the server announces for `url`, when it answers a HEAD request.
    pub fn content_length(&self, url: &str) -> Option<u64> {
        let resp = self.client.head(url).send().ok()?;
        resp.status()
            .is_success()
            .then(|| header_u64(&resp, CONTENT_LENGTH))
            .flatten()
    }

    /// Fetches a small file into memory; `Ok(None)` when the server has no such file.
    pub fn get_optional(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        self.retrying(url, |_| {
            let resp = self.send(url, None)?;
            match resp.status() {
                StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
                s if s.is_success() => read_small(resp, url, limit).map(Some),
                _ => Err(status_failure(&resp, url)),
            }
        })
        .with_context(|| format!("downloading {url}"))
    }

    /// Fetches a small file into memory; a missing file is an error naming the URL.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>> {
        self.get_optional(url, limit)?
            .ok_or_else(|| anyhow!("{url}: HTTP 404 Not Found"))
    }

    /// Streams `url` into `dest` + `.part`, handing every byte to `feeds`.
    ///
    /// `limit` bounds the body: a server that announces or sends more is
    /// refused (the transfer stops one byte past it), so a hostile mirror
    /// cannot fill the disk. A `.part` that is not a plain file of our own
    /// (a symlink, a FIFO, a device, a hard link) is refused, never followed.
    ///
    /// A `.part` left by an interrupted run is resumed: its bytes are fed
    /// from disk and only the rest is requested. The caller decides, after
    /// checking what the feeds computed, whether to [`PartFile::commit`] or
    /// [`PartFile::discard`]. Returns once every byte has been fed; the
    /// feeds' workers may still be hashing the last chunks.
    pub fn download(
        &self,
        url: &str,
        dest: &Path,
        limit: u64,
        feeds: &[&dyn Feed],
    ) -> Result<PartFile> {
        let part = part_path(dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| url.to_owned());
        let mut state = State::open(&part, limit, feeds)
            .with_context(|| format!("opening {} for writing", part.display()))?;
        let bar = self.progress.file(&name, None);
        let known_len = self.content_length(url);
        if let Some(len) = known_len.filter(|&len| len > limit) {
            bar.finish();
            bail!(
                "{url}: the server announces {len} bytes, more than the {limit} allowed for \
                 {name}; refusing it"
            );
        }
        if let Some(len) = known_len {
            bar.set_len(len);
            self.progress.expect(len);
        }
        let mut announced = known_len.is_some();
        let result = self.retrying(url, |progressed| {
            let before = state.written;
            let result = self.attempt(url, &mut state, &bar, known_len, &mut announced);
            *progressed = state.written > before;
            result
        });
        bar.finish();
        if result.is_err() && state.written > state.cap {
            // An overlong body is no partial download worth resuming.
            let _ = fs::remove_file(&part);
        }
        result.with_context(|| format!("downloading {url}"))?;
        Ok(PartFile {
            part,
            dest: dest.to_owned(),
            len: state.written,
        })
    }

    fn send(&self, url: &str, from: Option<u64>) -> Result<Response, Failure> {
        self.send_with(url, from, false)
    }

    /// `own_connection`: ask for the connection to close after this reply.
    /// Large files gain nothing from keep-alive, and a transfer cut short
    /// then never leaves a half-read connection behind.
    fn send_with(
        &self,
        url: &str,
        from: Option<u64>,
        own_connection: bool,
    ) -> Result<Response, Failure> {
        let mut req = self.client.get(url);
        if let Some(offset) = from {
            req = req.header(RANGE, format!("bytes={offset}-"));
        }
        if own_connection {
            req = req.header(CONNECTION, "close");
        }
        req.send().map_err(|e| {
            // A refused redirect or an unusable URL fails the same way every time.
            if e.is_redirect() || e.is_builder() {
                Failure::Fatal(anyhow!(e))
            } else {
                Failure::Retry(anyhow!(e))
            }
        })
    }

    /// One request: resume from what is on disk, stream the rest.
    fn attempt(
        &self,
        url: &str,
        state: &mut State,
        bar: &FileProgress,
        known_len: Option<u64>,
        announced: &mut bool,
    ) -> Result<(), Failure> {
        let from = (state.written > 0).then_some(state.written);
        let mut resp = self.send_with(url, from, true)?;
        let total = match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let range = content_range(&resp).ok_or_else(|| {
                    Failure::Fatal(anyhow!(
                        "the server sent a partial reply without Content-Range"
                    ))
                })?;
                if range.start != state.written {
                    return Err(Failure::Fatal(anyhow!(
                        "asked to resume at byte {}, the server sent bytes from {}",
                        state.written,
                        range.start
                    )));
                }
                state.catch_up(bar)?;
                range.total
            }
            StatusCode::OK => {
                // The server ignored the Range (or this is the first request):
                // the body starts at byte 0, and bytes already fed are skipped.
                state.restart_at_fed()?;
                header_u64(&resp, CONTENT_LENGTH)
            }
            StatusCode::RANGE_NOT_SATISFIABLE
                if content_range(&resp).and_then(|r| r.total) == Some(state.written) =>
            {
                // The `.part` is already complete: an earlier run stopped before renaming.
                state.catch_up(bar)?;
                return Ok(());
            }
            _ => return Err(status_failure(&resp, url)),
        };
        // A chunked reply announces no length; the HEAD reply's length still
        // tells a complete body from one cut short.
        let total = total.or(known_len);
        if let Some(total) = total.filter(|&t| t > state.limit) {
            return Err(Failure::Fatal(anyhow!(
                "the server announces {total} bytes, more than the {} allowed for it",
                state.limit
            )));
        }
        // Never take more than announced (or than the limit): one byte past
        // it is enough to refuse the reply.
        state.cap = total.unwrap_or(state.limit).min(state.limit);
        if let (Some(total), false) = (total, *announced) {
            bar.set_len(total);
            self.progress.expect(total);
            *announced = true;
        }
        state.stream(&mut resp, bar)?;
        match total {
            Some(total) if state.written < total => Err(Failure::Retry(anyhow!(
                "the connection closed after {} of {} bytes",
                state.written,
                total
            ))),
            Some(total) if state.written > total => Err(Failure::Fatal(anyhow!(
                "the server sent more than the {total} bytes it announced; cut off and refused"
            ))),
            _ if state.written > state.limit => Err(Failure::Fatal(anyhow!(
                "the server sent more than the {} bytes allowed for it; cut off and refused",
                state.limit
            ))),
            _ => Ok(()),
        }
    }

    /// Runs `attempt` until it succeeds, fails fatally, or makes no progress
    /// `policy.attempts` times in a row. `attempt` reports whether it got bytes.
    fn retrying<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut(&mut bool) -> Result<T, Failure>,
    ) -> Result<T> {
        let mut idle = 0;
        loop {
            let mut progressed = false;
            match attempt(&mut progressed) {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(e)) => {
                    idle = if progressed { 0 } else { idle + 1 };
                    if idle >= self.policy.attempts {
                        return Err(
                            e.context(format!("giving up after {idle} attempts without progress"))
                        );
                    }
                    self.progress.println(&format!("retrying {url}: {e:#}"));
                    std::thread::sleep(self.policy.backoff * idle);
                }
            }
        }
    }
}

/// The bytes of one download so far: `written` are on disk in the `.part`,
/// `fed` of them (a prefix) have been handed to the feeds.
struct State<'a> {
    file: File,
    path: PathBuf,
    written: u64,
    fed: u64,
    /// Bytes of the current body to drop (already fed from an earlier attempt).
    skip: u64,
    /// The most this download may hold.
    limit: u64,
    /// Where to stop the current body: its announced total or `limit`
    /// (one byte more is read, to tell a longer body from an exact one).
    cap: u64,
    feeds: &'a [&'a dyn Feed],
}

impl<'a> State<'a> {
    fn open(path: &Path, limit: u64, feeds: &'a [&'a dyn Feed]) -> Result<Self> {
        let file = open_part(path)?;
        let written = file.metadata()?.len();
        ensure!(
            written <= limit,
            "{} holds {written} bytes, more than the {limit} allowed for this download; \
             delete it",
            path.display()
        );
        Ok(Self {
            file,
            path: path.to_owned(),
            written,
            fed: 0,
            skip: 0,
            limit,
            cap: limit,
            feeds,
        })
    }

    fn feed(&self, chunk: &Chunk) -> Result<(), Failure> {
        for f in self.feeds {
            f.feed(chunk).map_err(Failure::Fatal)?;
        }
        Ok(())
    }

    /// Feeds the bytes on disk that the feeds have not seen yet.
    fn catch_up(&mut self, bar: &FileProgress) -> Result<(), Failure> {
        if self.fed == self.written {
            return Ok(());
        }
        let mut reader = File::open(&self.path)?;
        reader.seek(SeekFrom::Start(self.fed))?;
        let mut reader = reader.take(self.written - self.fed);
        loop {
            let chunk = read_chunk(&mut reader)?;
            if chunk.is_empty() {
                break;
            }
            self.fed += chunk.len() as u64;
            self.feed(&Arc::new(chunk))?;
        }
        if self.fed != self.written {
            return Err(Failure::Fatal(anyhow!(
                "{} shrank while resuming",
                self.path.display()
            )));
        }
        bar.resumed(self.written);
        Ok(())
    }

    /// Prepares for a body that starts at byte 0.
    fn restart_at_fed(&mut self) -> Result<(), Failure> {
        self.file.set_len(self.fed)?;
        self.written = self.fed;
        self.skip = self.fed;
        Ok(())
    }

    /// Appends the response body; a read error is worth a retry.
    fn stream(&mut self, body: &mut Response, bar: &FileProgress) -> Result<(), Failure> {
        self.file.seek(SeekFrom::Start(self.written))?;
        loop {
            // Stop one byte past the cap: enough to refuse an overlong body.
            let room = (self.cap + 1 + self.skip).saturating_sub(self.written);
            if room == 0 {
                return Ok(());
            }
            let (mut chunk, error) = match read_chunk(&mut body.by_ref().take(room)) {
                Ok(chunk) if chunk.is_empty() => return Ok(()),
                Ok(chunk) => (chunk, None),
                Err(PartialRead { bytes, error }) => (bytes, Some(error)),
            };
            let drop = self.skip.min(chunk.len() as u64) as usize;
            chunk.drain(..drop);
            self.skip -= drop as u64;
            if !chunk.is_empty() {
                self.file.write_all(&chunk).map_err(|e| {
                    Failure::Fatal(anyhow!(e).context(format!("writing {}", self.path.display())))
                })?;
                self.written += chunk.len() as u64;
                self.fed += chunk.len() as u64;
                bar.inc(chunk.len() as u64);
                self.feed(&Arc::new(chunk))?;
            }
            if let Some(error) = error {
                return Err(Failure::Retry(anyhow!(error)));
            }
        }
    }
}

/// A read that failed after getting `bytes`.
struct PartialRead {
    bytes: Vec<u8>,
    error: std::io::Error,
}

impl From<PartialRead> for Failure {
    fn from(e: PartialRead) -> Self {
        Failure::Fatal(e.error.into())
    }
}

/// Reads up to [`CHUNK`] bytes; empty at end of input.
fn read_chunk(reader: &mut impl Read) -> Result<Vec<u8>, PartialRead> {
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0;
    while len < CHUNK {
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                buf.truncate(len);
                return Err(PartialRead { bytes: buf, error });
            }
        }
    }
    buf.truncate(len);
    Ok(buf)
}

fn read_small(resp: Response, url: &str, limit: u64) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    resp.take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| Failure::Retry(e.into()))?;
    if body.len() as u64 > limit {
        return Err(Failure::Fatal(anyhow!(
            "{url} is larger than the {limit} bytes expected for it"
        )));
    }
    Ok(body)
}

fn status_failure(resp: &Response, url: &str) -> Failure {
    let status = resp.status();
    if status.is_redirection() {
        // A redirect the client did not follow: its target is no HTTP(S) URL.
        let to: String = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .take(300)
                    .collect()
            })
            .unwrap_or_default();
        return Failure::Fatal(anyhow!(super::client::refused_redirect(url, &to)));
    }
    let error = anyhow!("{url}: HTTP {status}");
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Failure::Retry(error)
    } else {
        Failure::Fatal(error)
    }
}

fn header_u64(resp: &Response, name: reqwest::header::HeaderName) -> Option<u64> {
    resp.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Content-Range: bytes START-END/TOTAL` or `bytes */TOTAL`.
struct ContentRange {
    start: u64,
    total: Option<u64>,
}

fn content_range(resp: &Response) -> Option<ContentRange> {
    parse_content_range(resp.headers().get(CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let start = match range.trim() {
        "*" => total?,
        r => r.split_once('-')?.0.parse().ok()?,
    };
    Some(ContentRange { start, total })
}

/// Opens `NAME.part` for writing without following a link or blocking on a
/// FIFO: a new file is created exclusively (mode 0644); an existing one must
/// be a regular file with no other hard link, or it is refused and named.
fn open_part(path: &Path) -> Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let existing = match fs::symlink_metadata(path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(meta) = &existing {
        refuse_unless_plain(path, meta)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(existing.is_none())
        .mode(0o644)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => anyhow!(
                "{} is a symbolic link; refusing to write through it (remove it)",
                path.display()
            ),
            _ => anyhow!(e),
        })?;
    // What was opened, not what was looked at: the path may have changed since.
    let meta = file.metadata()?;
    refuse_unless_plain(path, &meta)?;
    ensure!(
        meta.nlink() == 1,
        "{} has {} hard links; refusing to write to a file shared with another name \
         (remove it)",
        path.display(),
        meta.nlink()
    );
    Ok(file)
}

fn refuse_unless_plain(path: &Path, meta: &fs::Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = crate::model::file_kind(meta.file_type());
    bail!(
        "{} is {kind}, not a partial download; refusing to write through it (remove it)",
        path.display()
    )
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// A finished but not yet trusted download, sitting at `NAME.part`.
///
/// Dropping it keeps the `.part`, so an interrupted run can resume it.
#[derive(Debug)]
#[must_use = "commit() a verified download or discard() a bad one"]
pub struct PartFile {
    part: PathBuf,
    dest: PathBuf,
    len: u64,
}

impl PartFile {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves the verified file to its final name.
    pub fn commit(self) -> Result<PathBuf> {
        fs::rename(&self.part, &self.dest).with_context(|| {
            format!(
                "renaming {} to {}",
                self.part.display(),
                self.dest.display()
            )
        })?;
        Ok(self.dest)
    }

    /// Deletes a download that failed verification.
    pub fn discard(self) -> Result<()> {
        fs::remove_file(&self.part).with_context(|| format!("deleting {}", self.part.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_ranges() {
        let r = parse_content_range("bytes 100-199/1000").unwrap();
        assert_eq!((r.start, r.total), (100, Some(1000)));
        let r = parse_content_range("bytes */1000").unwrap();
        assert_eq!((r.start, r.total), (1000, Some(1000)));
        let r = parse_content_range("bytes 5-9/*").unwrap();
        assert_eq!((r.start, r.total), (5, None));
        assert!(parse_content_range("items 1-2/3").is_none());
        assert!(parse_content_range("bytes x-2/3").is_none());
    }

    #[test]
    fn part_file_sits_beside_the_destination() {
        assert_eq!(
            part_path(Path::new("/m/a/initrd.cpio.gz")),
            Path::new("/m/a/initrd.cpio.gz.part")
        );
    }
}
