//! The command line: the write arguments at the top level, plus subcommands.

use clap::{Parser, Subcommand};

/// Make a USB stick that boots diskless Flatcar Container Linux nodes over the
/// network with iPXE.
#[derive(Debug, Parser)]
#[command(name = "mkstick", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot a stick in QEMU (UEFI): interactively, or as a pass/fail smoke test.
    QemuTest(crate::qemu::QemuTestArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
