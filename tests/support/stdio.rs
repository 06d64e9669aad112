//! Standard streams that refuse every write, for the "unwritable output"
//! rule (`src/main.rs`).
#![allow(dead_code)]

use std::process::Stdio;

/// A pipe whose reader is gone before the command starts: every write fails
/// with EPIPE, however small the output. (Dropping the reader of
/// `Stdio::piped()` after spawning races with a fast child, which may have
/// written its few bytes into the pipe already and succeeded.)
pub fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

/// `/dev/full`: every write fails with ENOSPC.
pub fn full() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full")
        .into()
}
