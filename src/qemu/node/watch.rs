//! One event loop over the boot: console lines and payload requests give
//! the milestones (and early failures), the faked world's observations give
//! the components' states; it ends at the full verdict, a failure, Ctrl-C
//! or the timeout.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Seen;
use super::verdict::{self, Component, Evidence, Status};
use super::world::World;
use crate::qemu::Event;
use crate::qemu::vm::Vm;
use crate::qemu::watch::{Failure, Outcome, Watcher};

const TAIL_LINES: usize = 40;

/// What one boot showed.
pub(super) struct Boot {
    pub(super) components: Vec<Component>,
    /// The reporter's last word on systemd (state, jobs, failed units).
    pub(super) systemd: Vec<String>,
    /// `None`: every enabled component passed.
    pub(super) failure: Option<Failure>,
    pub(super) milestones: Vec<(String, Duration)>,
    pub(super) tail: VecDeque<String>,
}

impl Boot {
    /// The VM is still up after this boot (worth keeping for `--keep`).
    pub(super) fn vm_alive(&self) -> bool {
        !matches!(
            self.failure.as_ref().map(|f| f.check.as_str()),
            Some(INTERRUPTED | QEMU_EXITED)
        )
    }
}

pub(super) const INTERRUPTED: &str = "interrupted";
const QEMU_EXITED: &str = "qemu-exited";

/// Watches `vm` until the verdict, or `timeout` after QEMU started.
pub(super) fn watch(
    world: &World,
    standin_sha256: &str,
    vm: &mut Vm,
    seen: &Receiver<Seen>,
    timeout: Duration,
) -> Result<Boot> {
    let mut state = State::new(world, standin_sha256, vm.started);
    let deadline = vm.started + timeout;
    let failure = loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break Some(Failure::new(
                "timeout",
                format!("no full verdict within {}s", timeout.as_secs()),
            ));
        };
        let step = match seen.recv_timeout(left) {
            Ok(Seen::Vm(Event::ConsoleClosed)) | Err(RecvTimeoutError::Disconnected) => {
                Step::Stop(Some(state.qemu_exited(vm)?))
            }
            Ok(Seen::Vm(event)) => state.vm_event(event),
            Ok(Seen::World(observation)) => {
                state.evidence.add(observation);
                state.evaluate()
            }
            Err(RecvTimeoutError::Timeout) => Step::Continue,
        };
        if let Step::Stop(failure) = step {
            break failure;
        }
    };
    Ok(state.finish(failure))
}

/// What an event means for the loop.
enum Step {
    Continue,
    /// Stop with the run's failure, or `None` for a full pass.
    Stop(Option<Failure>),
}

/// Milestones by name with the time each was first reached.
#[derive(Default)]
struct Milestones(Vec<(String, Duration)>);

impl Milestones {
    fn reach(&mut self, name: &str, at: Duration) {
        if !self.0.iter().any(|(n, _)| n == name) {
            self.0.push((name.to_string(), at));
        }
    }
}

struct State<'a> {
    world: &'a World,
    standin_sha256: &'a str,
    started: Instant,
    watcher: Watcher,
    evidence: Evidence,
    components: Vec<Component>,
    milestones: Milestones,
    tail: VecDeque<String>,
    stderr: Vec<String>,
}

impl<'a> State<'a> {
    fn new(world: &'a World, standin_sha256: &'a str, started: Instant) -> Self {
        let evidence = Evidence::default();
        Self {
            components: verdict::evaluate(world, standin_sha256, &evidence),
            world,
            standin_sha256,
            started,
            watcher: Watcher::default(),
            evidence,
            milestones: Milestones::default(),
            tail: VecDeque::with_capacity(TAIL_LINES),
            stderr: Vec::new(),
        }
    }

    fn vm_event(&mut self, event: Event) -> Step {
        match event {
            Event::Serial { at, line } => self.serial(at, line),
            Event::Http { path, status } => self.http(&path, status),
            Event::Stderr(line) => {
                self.stderr.push(line);
                Step::Continue
            }
            Event::Interrupted => Step::Stop(Some(Failure::new(INTERRUPTED, "stopped by Ctrl-C"))),
            // Handled by the loop, which owns the VM.
            Event::ConsoleClosed => Step::Continue,
        }
    }

    fn serial(&mut self, at: Duration, line: String) -> Step {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.clone());
        // The test OS's own markers: `MKSTICK-TESTOS[-FAIL] …`.
        if let Some(rest) = line.split("MKSTICK-TESTOS-FAIL ").nth(1) {
            let (stage, detail) = rest.split_once(": ").unwrap_or((rest, ""));
            return Step::Stop(Some(Failure::new(stage, detail)));
        }
        if let Some(rest) = line.split("MKSTICK-TESTOS ").nth(1) {
            let name = rest.split(' ').next().unwrap_or_default();
            self.milestones.reach(name, at);
        }
        if let Some(Outcome::Fail(f)) = self.watcher.serial(at, &line) {
            return Step::Stop(Some(f));
        }
        for (m, at) in self.watcher.reached() {
            self.milestones.reach(m.label(), *at);
        }
        Step::Continue
    }

    /// iPXE asking for each file: the downloads' milestones.
    fn http(&mut self, path: &str, status: u16) -> Step {
        let file = if path.ends_with(crate::qemu::server::INITRD_NAME) {
            "initrd-requested"
        } else {
            "kernel-requested"
        };
        self.milestones.reach(file, self.started.elapsed());
        match self.watcher.http(path, status) {
            Some(Outcome::Fail(f)) => Step::Stop(Some(f)),
            _ => Step::Continue,
        }
    }

    fn qemu_exited(&mut self, vm: &mut Vm) -> Result<Failure> {
        let status = vm.stop(Duration::from_secs(2))?;
        Ok(Failure::new(
            QEMU_EXITED,
            format!(
                "QEMU exited ({status}) before a verdict; its messages: {}",
                self.stderr.join(" | ")
            ),
        ))
    }

    /// Done when every component has passed or failed for good.
    fn evaluate(&mut self) -> Step {
        self.components = verdict::evaluate(self.world, self.standin_sha256, &self.evidence);
        let at = self.started.elapsed();
        for c in &self.components {
            if matches!(c.status, Status::Pass(_)) {
                self.milestones.reach(c.name, at);
            }
        }
        if self
            .components
            .iter()
            .any(|c| matches!(c.status, Status::Pending(_)))
        {
            return Step::Continue;
        }
        Step::Stop(
            self.components
                .iter()
                .find(|c| matches!(c.status, Status::Fail(_)))
                .map(|c| Failure::new(c.name, "")),
        )
    }

    fn finish(self, failure: Option<Failure>) -> Boot {
        let systemd = self
            .evidence
            .snapshot
            .as_deref()
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                ["system ", "jobs ", "failed ", "unit "]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(str::to_string)
            .collect();
        Boot {
            components: self.components,
            systemd,
            failure,
            milestones: self.milestones.0,
            tail: self.tail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::node::services::Observation;

    fn state(world: &World) -> State<'_> {
        State::new(world, "aa", Instant::now())
    }

    #[test]
    fn test_os_markers_are_milestones_and_its_failures_stop() {
        let world = World::default();
        let mut s = state(&world);
        let at = Duration::from_secs(3);
        assert!(matches!(
            s.serial(at, "MKSTICK-TESTOS ignition-done 12.5".into()),
            Step::Continue
        ));
        assert!(matches!(
            s.serial(at, "MKSTICK-TESTOS ignition-done 13".into()),
            Step::Continue
        ));
        assert_eq!(s.milestones.0, [("ignition-done".to_string(), at)]);
        let Step::Stop(Some(f)) = s.serial(
            at,
            "MKSTICK-TESTOS-FAIL ignition: stage fetch failed".into(),
        ) else {
            panic!("a test OS failure must stop the watch");
        };
        assert_eq!(
            (f.check.as_str(), f.detail.as_str()),
            ("ignition", "stage fetch failed")
        );
        assert_eq!(s.tail.len(), 3);
    }

    #[test]
    fn ends_when_no_component_is_pending() {
        let world = World::default();
        let mut s = state(&world);
        assert!(matches!(s.evaluate(), Step::Continue));
        s.evidence.add(Observation::Report(
            "system running\nignition-result {}\nhostname h\nfailed \n\
             mount /mnt/secrets vfat ro,nosuid,nodev,noexec\nperm /mnt/secrets 700 0 0\n\
             mount /secrets vfat ro,nosuid,nodev,noexec\nperm /secrets 700 0 0\n\
             unit k3s-install.service inactive dead success 0\nunit k3s.service inactive dead success 0\n\
             unit logexport.service inactive dead success 0\n\
             unit heartbeat.timer inactive dead success 0\nunit heartbeat.service inactive dead success 0\n\
             unit namecheap-ddns.timer inactive dead success 0\nunit namecheap-ddns.service inactive dead success 0\n"
                .into(),
        ));
        assert!(matches!(s.evaluate(), Step::Stop(None)));
        assert!(s.milestones.0.iter().any(|(m, _)| m == "units"));
        let boot = s.finish(None);
        assert!(boot.vm_alive());
        assert_eq!(
            boot.systemd.first().map(String::as_str),
            Some("system running")
        );
    }
}
