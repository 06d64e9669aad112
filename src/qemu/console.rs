//! Captures QEMU's serial console (stdout) and stderr on reader threads:
//! raw bytes to the log file, clean timestamped lines to the harness.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::Event;
use super::vm::Vm;

/// Starts the reader threads for a VM spawned with a captured console.
/// They end by themselves when QEMU exits (end of file on both pipes).
pub(super) fn capture(vm: &mut Vm, log: Option<File>, events: Sender<Event>) -> Result<()> {
    let started = vm.started;
    let stdout = vm
        .child()
        .stdout
        .take()
        .context("QEMU's console is not captured")?;
    let stderr = vm
        .child()
        .stderr
        .take()
        .context("QEMU's stderr is not captured")?;
    let err_events = events.clone();
    thread::spawn(move || read_serial(stdout, log, started, events));
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if err_events.send(Event::Stderr(line)).is_err() {
                break;
            }
        }
    });
    Ok(())
}

fn read_serial(
    mut stdout: impl Read,
    mut log: Option<File>,
    started: Instant,
    events: Sender<Event>,
) {
    let mut buf = [0u8; 4096];
    let mut line = Vec::new();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = started.elapsed();
        if let Some(file) = log.as_mut() {
            // A full disk must not stop the boot: the log is best effort.
            let _ = file.write_all(&buf[..n]);
        }
        for &byte in &buf[..n] {
            if byte == b'\n' {
                let _ = events.send(Event::Serial {
                    at,
                    line: clean(&line),
                });
                line.clear();
            } else {
                line.push(byte);
            }
        }
    }
    if !line.is_empty() {
        let _ = events.send(Event::Serial {
            at: started.elapsed(),
            line: clean(&line),
        });
    }
    let _ = events.send(Event::ConsoleClosed);
}

/// The text of a console line without terminal escape sequences (CSI
/// `ESC [ params final`, and two-byte `ESC x`) and carriage returns.
pub(super) fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next() == Some('[') {
                    // Parameters and intermediates up to the final byte.
                    for p in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&p) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// How long ago, in seconds with two decimals.
pub(super) fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_firmware_escapes() {
        let raw = b"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001\r";
        assert_eq!(clean(raw), "BdsDxe: loading Boot0001");
        let ipxe = b"\x1b[1m\x1b[37m\x1b[40miPXE 1.21.1\x1b[0m -- Open Source";
        assert_eq!(clean(ipxe), "iPXE 1.21.1 -- Open Source");
    }

    #[test]
    fn reader_splits_lines_and_logs_raw_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("serial.log");
        let log = File::create(&log_path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let input: &[u8] = b"one\r\n\x1b[1mtwo\x1b[0m\npartial";
        read_serial(input, Some(log), Instant::now(), tx);
        let lines: Vec<String> = rx
            .iter()
            .filter_map(|e| match e {
                Event::Serial { line, .. } => Some(line),
                _ => None,
            })
            .collect();
        assert_eq!(lines, ["one", "two", "partial"]);
        assert_eq!(std::fs::read(&log_path).unwrap(), input);
    }
}
