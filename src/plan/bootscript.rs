//! Boot settings → `autoexec.ipxe`, rendered from `ipxe/autoexec.ipxe.in`.

use anyhow::{Result, bail, ensure};

use crate::model::flatcar::{ArchChoice, Channel, INITRD, KERNEL, VersionSpec};
use crate::model::script::check_script_safe;
use crate::model::stick::{OEM_CPIO_NAME, OEM_CPIO_PATH};
use crate::model::{BaseUrl, ConfigUrl};

const TEMPLATE: &str = include_str!("../../ipxe/autoexec.ipxe.in");

/// Whether Flatcar `version` copies an embedded `/usr/share/oem/config.ign`
/// to Ignition at first boot (broken by the minimal initrd, fixed in stable
/// 4593.2.0, beta 4628.1.0, alpha 4669.0.0: flatcar/Flatcar#2023).
pub(crate) fn check_embedded_ignition(version: &VersionSpec, channel: Channel) -> Result<()> {
    let first: [u64; 3] = match channel {
        Channel::Stable => [4593, 2, 0],
        Channel::Beta => [4628, 1, 0],
        Channel::Alpha => [4669, 0, 0],
        Channel::Lts => bail!(
            "no LTS release reads an embedded Ignition config yet; use --ignition-url, \
             or the stable channel (4593.2.0 or newer)"
        ),
    };
    match version {
        VersionSpec::Current => Ok(()),
        VersionSpec::Exact(v) if v.at_least(&first) => Ok(()),
        VersionSpec::Exact(v) => bail!(
            "Flatcar {v} ({channel}) cannot read an embedded Ignition config: it needs {}.{}.{} or \
             newer on that channel; pin a newer version or use --ignition-url",
            first[0],
            first[1],
            first[2]
        ),
    }
}

/// Where the node gets its Ignition config.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "value")]
pub enum IgnitionSource {
    /// Fetched at boot from a public URL.
    Url(ConfigUrl),
    /// In `/mkstick/oem.cpio` on the ESP (its sha256 here).
    Embedded(String),
}

/// Everything the script needs, validated.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BootSettings {
    pub channel: Channel,
    #[serde(serialize_with = "crate::plan::display")]
    pub version: VersionSpec,
    pub arch: ArchChoice,
    pub base_url: BaseUrl,
    pub kernel_args: Vec<String>,
    pub ignition: IgnitionSource,
    /// ESP directory holding the kernel and initrd (`--offline`): the script
    /// boots them with `file:` and falls back to the network.
    pub offline_dir: Option<String>,
}

/// One `--console` value: a device with optional settings, as the kernel's
/// `console=` takes it (`ttyS0,115200n8`, `tty0`, `uart8250,io,0x3f8`).
pub(crate) fn check_console(value: &str) -> Result<()> {
    ensure!(
        !value.starts_with("console="),
        "--console takes the device only (ttyS0,115200n8), not console=...: mkstick adds console= itself"
    );
    check_script_safe("--console", value)?;
    ensure!(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b',' | b'.' | b'_' | b'-' | b':')),
        "--console may hold only letters, digits and , . _ - : (a device and its settings, like ttyS0,115200n8)"
    );
    Ok(())
}

/// Linux's x86 `COMMAND_LINE_SIZE`: the command line and its NUL terminator.
pub(crate) const COMMAND_LINE_SIZE: usize = 2048;

/// The kernel truncates a longer command line silently, losing the last
/// arguments (the Ignition URL, the host name), so it is an error here.
pub(crate) fn check_command_line(args: &[String]) -> Result<()> {
    for a in args {
        ensure!(
            !a.contains(char::is_control),
            "a kernel argument contains a control character (such as NUL or ESC); check --ssh-key, --hostname, --console and --ignition-url"
        );
    }
    let len = args.join(" ").len();
    ensure!(
        len < COMMAND_LINE_SIZE,
        "the kernel command line would be {len} bytes; Linux takes at most {} (x86 COMMAND_LINE_SIZE {COMMAND_LINE_SIZE}, with its NUL): shorten the --ignition-url, the SSH key's comment or the consoles",
        COMMAND_LINE_SIZE - 1
    );
    Ok(())
}

/// The kernel command line, in the seed's order.
pub(crate) fn kernel_args(
    consoles: &str,
    ssh_key: Option<&str>,
    hostname: Option<&str>,
    ignition: &IgnitionSource,
) -> Vec<String> {
    let mut args = vec![format!("initrd={INITRD}")];
    if matches!(ignition, IgnitionSource::Embedded(_)) {
        args.push(format!("initrd={OEM_CPIO_NAME}"));
    }
    args.push("flatcar.first_boot=1".into());
    args.extend(consoles.split_whitespace().map(|c| format!("console={c}")));
    if let Some(key) = ssh_key {
        args.push(format!("sshkey=\"{key}\""));
    }
    if let Some(h) = hostname {
        args.push(format!("hostname={h}"));
    }
    if let IgnitionSource::Url(url) = ignition {
        args.push(format!("ignition.config.url={url}"));
    }
    args
}

pub(crate) fn render(s: &BootSettings) -> String {
    let arch_select = match s.arch {
        ArchChoice::Amd64 => "set arch amd64".to_string(),
        ArchChoice::Arm64 => "set arch arm64".to_string(),
        ArchChoice::All => {
            "iseq ${buildarch} arm64 && set arch arm64 || set arch amd64".to_string()
        }
    };
    let oem = match s.ignition {
        IgnitionSource::Embedded(_) => {
            format!("initrd --name {OEM_CPIO_NAME} file:/{OEM_CPIO_PATH} || goto failed\n")
        }
        IgnitionSource::Url(_) => String::new(),
    };
    let arch_name = match s.arch {
        ArchChoice::Amd64 => "amd64",
        ArchChoice::Arm64 => "arm64",
        ArchChoice::All => "amd64 or arm64",
    };
    let offline = match &s.offline_dir {
        None => String::new(),
        Some(dir) => format!(
            "\n# Offline first: Flatcar from this stick; on any failure, the network below.\n\
             echo mkstick: loading Flatcar from the stick\n\
             imgfree\n\
             kernel --name {KERNEL} file:/{dir}/{KERNEL} {args} || goto net\n\
             initrd --name {INITRD} file:/{dir}/{INITRD} || goto net\n\
             {oem}\
             # iPXE's EFI build boots only with an open network device.\n\
             ifopen || echo mkstick: no network device open (${{errno}})\n\
             boot || echo mkstick: offline boot failed (${{errno}}); trying the network\n",
            args = s.kernel_args.join(" "),
            oem = oem.replace("goto failed", "goto net"),
        ),
    };
    // The file names first: later values come from the user.
    TEMPLATE
        .replace("@KERNEL@", KERNEL)
        .replace("@INITRD@", INITRD)
        .replace("@OFFLINE@", &offline)
        .replace("@MKSTICK_VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@CHANNEL@", s.channel.as_str())
        .replace("@VERSION@", &s.version.to_string())
        .replace("@ARCH_NAME@", arch_name)
        .replace("@ARCH_SELECT@", &arch_select)
        .replace("@BASE_URL@", s.base_url.as_str())
        .replace("@KERNEL_ARGS@", &s.kernel_args.join(" "))
        .replace("@OEM_INITRD@", &oem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ignition: IgnitionSource) -> BootSettings {
        BootSettings {
            channel: Channel::Stable,
            version: "4593.2.5".parse().unwrap(),
            arch: ArchChoice::Amd64,
            base_url: "https://flatcar.cdn.cncf.io/".parse().unwrap(),
            kernel_args: kernel_args(
                "ttyS0,115200n8",
                Some("ssh-ed25519 AAAA k"),
                Some("node1"),
                &ignition,
            ),
            ignition,
            offline_dir: None,
        }
    }

    #[test]
    fn embedded_script_loads_oem_cpio_and_names_every_initrd() {
        let script = render(&settings(IgnitionSource::Embedded("x".into())));
        assert!(script.starts_with("#!ipxe\n"));
        assert!(!script.contains('@'), "unreplaced placeholder:\n{script}");
        assert!(
            script.contains("set base https://flatcar.cdn.cncf.io/stable/${arch}-usr/4593.2.5\n")
        );
        assert!(script.contains("imgfree\nkernel --name flatcar_production_pxe.vmlinuz"));
        assert!(script.contains(
            "initrd=flatcar_production_pxe_image.cpio.gz initrd=oem.cpio flatcar.first_boot=1 \
             console=ttyS0,115200n8 sshkey=\"ssh-ed25519 AAAA k\" hostname=node1 || goto failed"
        ));
        assert!(
            script.contains("initrd --name oem.cpio file:/mkstick/oem.cpio || goto failed\nboot")
        );
        assert!(!script.contains("ignition.config.url"));
    }

    #[test]
    fn offline_script_boots_from_the_stick_then_falls_back() {
        let mut s = settings(IgnitionSource::Embedded("x".into()));
        s.offline_dir = Some("flatcar/amd64/4593.2.5".into());
        let script = render(&s);
        assert!(!script.contains('@'), "unreplaced placeholder:\n{script}");
        let offline = script
            .find("file:/flatcar/amd64/4593.2.5/flatcar_production_pxe.vmlinuz")
            .unwrap();
        assert!(
            offline < script.find(":net").unwrap(),
            "offline boot comes first:\n{script}"
        );
        assert!(script.contains(
            "initrd --name flatcar_production_pxe_image.cpio.gz \
             file:/flatcar/amd64/4593.2.5/flatcar_production_pxe_image.cpio.gz || goto net\n\
             initrd --name oem.cpio file:/mkstick/oem.cpio || goto net\n"
        ));
        assert!(script.contains("ifopen ||"));
        // The online path is still there as the fallback.
        assert!(script.contains("${base}/flatcar_production_pxe.vmlinuz"));
    }

    #[test]
    fn url_script_passes_the_url() {
        let script = render(&settings(IgnitionSource::Url(
            "https://example.com/n.ign".parse().unwrap(),
        )));
        assert!(script.contains("ignition.config.url=https://example.com/n.ign"));
        assert!(!script.contains("oem.cpio"));
    }

    #[test]
    fn consoles_and_command_line_are_checked() {
        for ok in [
            "ttyS0,115200n8",
            "tty0",
            "ttyAMA0",
            "uart8250,io,0x3f8,115200",
            "hvc0",
        ] {
            check_console(ok).unwrap();
        }
        for bad in [
            "console=tty0",
            "tty0;x",
            "a$b",
            "t\u{0}",
            "t\u{1b}",
            "a>b",
            "a&b",
        ] {
            assert!(check_console(bad).is_err(), "{bad:?}");
        }
        let args = |n: usize| vec!["a".repeat(n)];
        check_command_line(&args(2047)).unwrap();
        let err = check_command_line(&args(2048)).unwrap_err();
        assert!(
            format!("{err:#}").contains("would be 2048 bytes"),
            "{err:#}"
        );
        assert!(check_command_line(&["x\u{0}y".into()]).is_err());
    }

    #[test]
    fn embedded_ignition_needs_a_fixed_flatcar() {
        let ok = |v: &str, c| check_embedded_ignition(&v.parse().unwrap(), c).is_ok();
        assert!(ok("4593.2.0", Channel::Stable));
        assert!(!ok("4593.1.9", Channel::Stable));
        assert!(ok("4600.0.0", Channel::Stable));
        assert!(!ok("4628.0.0", Channel::Beta));
        assert!(ok("current", Channel::Alpha));
        assert!(!ok("current", Channel::Lts));
    }
}
