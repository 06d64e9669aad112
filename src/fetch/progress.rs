//! Progress bars: one per file plus an overall bar, with rate and ETA.
//!
//! Bars draw on stderr only when it is a terminal (indicatif hides them
//! otherwise), so logs and tests see just the one-line summaries callers print.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shared handle for all the bars of one command; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Progress {
    /// Bars on stderr (hidden automatically when stderr is not a terminal).
    pub fn stderr() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    /// No bars at all (library callers that print their own status).
    pub fn hidden() -> Self {
        Self::with_target(ProgressDrawTarget::hidden())
    }

    fn with_target(target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(style("total"));
        overall.set_message("total");
        Self { multi, overall }
    }

    /// Adds `bytes` still to fetch to the overall bar's length.
    pub fn expect(&self, bytes: u64) {
        self.overall.inc_length(bytes);
    }

    /// A bar for one file of `len` bytes (unknown: spinner-like, no ETA).
    pub fn file(&self, name: &str, len: Option<u64>) -> FileProgress {
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new(len.unwrap_or(0)));
        bar.set_style(style(name));
        bar.set_message(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        FileProgress {
            bar,
            overall: self.overall.clone(),
        }
    }

    /// Prints a line above the bars (or plainly, when there are none).
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            // A failed draw only loses a status line; the result is unaffected.
            let _ = self.multi.println(line);
        }
    }

    /// Removes the bars from the terminal; the handle stays usable for the
    /// next batch (e.g. the next architecture), starting from zero.
    pub fn finish(&self) {
        self.overall.set_length(0);
        self.overall.set_position(0);
        // Same as above: clearing is cosmetic.
        let _ = self.multi.clear();
    }
}

fn style(_name: &str) -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:<40!} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} eta {eta:<4} [{wide_bar}]",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The bar of one file; bytes counted here also advance the overall bar.
pub struct FileProgress {
    bar: ProgressBar,
    overall: ProgressBar,
}

impl FileProgress {
    pub fn set_len(&self, len: u64) {
        self.bar.set_length(len);
    }

    /// `n` more bytes arrived from the network.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.overall.inc(n);
    }

    /// Bytes taken from an earlier, interrupted attempt (already on disk).
    pub fn resumed(&self, n: u64) {
        self.bar.set_position(n);
        self.overall.inc(n);
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
