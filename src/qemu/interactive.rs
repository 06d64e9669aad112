//! Interactive mode: the guest's serial console on this terminal, SSH
//! forwarded to localhost. Ctrl-C stops QEMU (it gets the SIGINT too; the
//! guard makes sure it is gone before mkstick exits).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::Options;
use super::build::Stick;
use super::vm::{Console, Network, Vm};

const DEFAULT_MEMORY_MIB: u32 = 4096;
/// How often QEMU is checked on.
const POLL: Duration = Duration::from_millis(100);

pub(super) fn run(args: &Options) -> Result<ExitCode> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "interactive mode needs a terminal for the serial console; use --smoke for an unattended test"
        );
    }
    let stick = Stick::target_or_build(&args.stick, None)?;
    let target = stick.path();
    let machine = super::Machine::for_options(args)?;
    let spec = machine.spec(
        args,
        DEFAULT_MEMORY_MIB,
        target,
        Network::User {
            ssh_port: Some(args.ssh_port),
        },
        Console::Terminal,
    );
    eprintln!(
        "qemu-test: {} with {} ({})",
        target.display(),
        machine.decision.accel,
        machine.decision.why
    );
    eprintln!("qemu-test: firmware {}", machine.firmware.code.display());
    eprintln!(
        "qemu-test: ssh -p {} core@localhost once the node is up; Ctrl-C stops QEMU",
        args.ssh_port
    );

    let (interrupt, interrupted) = mpsc::channel();
    // mkstick must outlive the SIGINT so that it can reap QEMU and report.
    if let Err(err) = ctrlc::try_set_handler(move || {
        let _ = interrupt.send(());
    }) {
        bail!("installing the Ctrl-C handler: {err}");
    }
    let mut vm = Vm::spawn(&spec)?;
    let deadline = args
        .timeout
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    loop {
        match interrupted.recv_timeout(POLL) {
            Ok(()) => {
                let status = vm.stop(Duration::from_secs(3))?;
                eprintln!("qemu-test: interrupted; QEMU stopped ({status})");
                return Ok(ExitCode::from(130));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("the Ctrl-C handler is gone"),
        }
        if let Some(status) = vm.try_wait()? {
            // A Ctrl-C on the terminal reaches QEMU and mkstick together;
            // QEMU may exit before the handler has reported it.
            if interrupted.recv_timeout(POLL).is_ok() {
                eprintln!("qemu-test: interrupted; QEMU stopped ({status})");
                return Ok(ExitCode::from(130));
            }
            eprintln!("qemu-test: QEMU exited ({status})");
            return Ok(ExitCode::SUCCESS);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            vm.stop(Duration::from_secs(3))?;
            eprintln!(
                "qemu-test: timeout after {}s; QEMU stopped",
                args.timeout.unwrap_or_default()
            );
            return Ok(ExitCode::from(1));
        }
    }
}
