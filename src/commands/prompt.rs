//! Asking the user before anything is destroyed.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail, ensure};

/// Whether to ask before overwriting (`--yes` assumes consent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Ask,
    Given,
}

/// Asks a yes/no question (`answer` is what the user must type). Without a
/// terminal there is nobody to ask: the caller must pass --yes.
pub fn confirm(consent: Consent, question: &str, answer: &str) -> Result<()> {
    if consent == Consent::Given {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} Not asking without a terminal: pass --yes to confirm");
    }
    eprint!("{question} Type {answer:?} to continue: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    ensure!(line.trim() == answer, "not confirmed; nothing was written");
    Ok(())
}
