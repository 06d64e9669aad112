//! Inspectors see every byte of a download in order (hashers, signature checks).
//!
//! Each one runs on its own thread, fed through a small bounded channel, so
//! hashing overlaps with the network and the disk and a 400 MB file costs one
//! pass. Memory stays bounded: at most [`QUEUE_DEPTH`] chunks wait per worker.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};
use sha2::Digest as _;

use crate::model::digest::{Sha256Digest, Sha512Digest};

/// A piece of a download shared, read-only, by every worker.
pub type Chunk = Arc<Vec<u8>>;

/// How many chunks may queue up for one worker before the download waits.
const QUEUE_DEPTH: usize = 8;

/// Consumes the bytes of one download, in order, then yields a result.
pub trait Inspect: Send + 'static {
    type Output: Send + 'static;
    fn update(&mut self, bytes: &[u8]);
    fn finish(self) -> Self::Output;
}

/// Something a download can hand its chunks to.
pub trait Feed {
    /// Passes `chunk` on; fails only if the worker died.
    fn feed(&self, chunk: &Chunk) -> Result<()>;
}

/// An [`Inspect`] running on its own thread.
pub struct Worker<O> {
    tx: SyncSender<Chunk>,
    handle: JoinHandle<O>,
}

impl<O: Send + 'static> Worker<O> {
    pub fn spawn<I: Inspect<Output = O>>(inspector: I) -> Self {
        let (tx, rx) = sync_channel::<Chunk>(QUEUE_DEPTH);
        let handle = std::thread::spawn(move || run(inspector, rx));
        Self { tx, handle }
    }

    /// Waits for the worker to see every chunk fed so far and returns its result.
    pub fn finish(self) -> Result<O> {
        drop(self.tx);
        self.handle
            .join()
            .map_err(|_| anyhow!("a download checker thread panicked"))
    }
}

fn run<I: Inspect>(mut inspector: I, rx: Receiver<Chunk>) -> I::Output {
    for chunk in rx {
        inspector.update(&chunk);
    }
    inspector.finish()
}

impl<O> Feed for Worker<O> {
    fn feed(&self, chunk: &Chunk) -> Result<()> {
        self.tx
            .send(Arc::clone(chunk))
            .map_err(|_| anyhow!("a download checker thread stopped early"))
    }
}

/// Streaming SHA-256 (the digest mkstick records for every file it writes).
#[derive(Default)]
pub struct Sha256Hasher(sha2::Sha256);

impl Inspect for Sha256Hasher {
    type Output = Sha256Digest;
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(self) -> Sha256Digest {
        self.0.into()
    }
}

/// Streaming SHA-512 (what Flatcar's `.DIGESTS` files list).
#[derive(Default)]
pub struct Sha512Hasher(sha2::Sha512);

impl Inspect for Sha512Hasher {
    type Output = Sha512Digest;
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(self) -> Sha512Digest {
        self.0.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_see_every_chunk_in_order() {
        let a = Worker::spawn(Sha256Hasher::default());
        let b = Worker::spawn(Sha512Hasher::default());
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for piece in data.chunks(4096) {
            let chunk: Chunk = Arc::new(piece.to_vec());
            a.feed(&chunk).unwrap();
            b.feed(&chunk).unwrap();
        }
        assert_eq!(a.finish().unwrap(), Sha256Digest::of(&data));
        assert_eq!(b.finish().unwrap(), Sha512Digest::of(&data));
    }
}
