//! Container Linux Config sugar, as Flatcar ct e83ae11 generates it:
//! `docker` (config/types/docker.go), `etcd` (etcd.go), `flannel`
//! (flannel.go) → units with a drop-in; `update` + `locksmith` (update.go,
//! locksmith.go) → the text of /etc/coreos/update.conf.
//!
//! Drop-ins are ct's `util.SystemdUnit.String()`: sections joined by a blank
//! line, lines by `\n`, and no final newline.

use serde_json::Value as Json;

use super::clc_options::{self as options, CliOption, Opt};
use super::diag::Diagnostic;
use super::walk::Ctx;
use super::yaml::{Entry, Node, Value};

/// `docker.flags` → `docker.service` (legacy `enable: true`) with a
/// DOCKER_OPTS drop-in (docker.go:33).
pub fn docker_unit(flags: &[&str]) -> Json {
    serde_json::json!({
        "name": "docker.service",
        "enable": true,
        "dropins": [{
            "name": "20-clct-docker.conf",
            "contents": format!("[Service]\nEnvironment=\"DOCKER_OPTS={}\"", flags.join(" ")),
        }],
    })
}

/// A semantic version as coreos/go-semver reads it (`MAJOR.MINOR.PATCH`,
/// optional `-pre` and `+meta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver {
    pub major: i64,
    pub minor: i64,
    pub patch: i64,
    pub pre: String,
    pub meta: String,
}

impl Semver {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (rest, meta) = text.split_once('+').unwrap_or((text, ""));
        let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
        let parts: Vec<&str> = core.splitn(3, '.').collect();
        if parts.len() != 3 {
            return Err(format!("{core} is not in dotted-tri format"));
        }
        let num = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))
        };
        Ok(Self {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: num(parts[2])?,
            pre: pre.to_string(),
            meta: meta.to_string(),
        })
    }

    /// go-semver's `LessThan` for the cases ct compares (a release against
    /// `x.y.0`): numbers first, then a pre-release sorts before the release.
    fn less_than(&self, major: i64, minor: i64, patch: i64) -> bool {
        let a = (self.major, self.minor, self.patch);
        let b = (major, minor, patch);
        a < b || (a == b && !self.pre.is_empty())
    }
}

impl std::fmt::Display for Semver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.meta.is_empty() {
            write!(f, "+{}", self.meta)?;
        }
        Ok(())
    }
}

/// Which wrapper: etcd or flannel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    Etcd,
    Flannel,
}

impl Wrapper {
    fn name(self) -> &'static str {
        match self {
            Wrapper::Etcd => "etcd",
            Wrapper::Flannel => "flannel",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Wrapper::Etcd => "etcd-member.service",
            Wrapper::Flannel => "flanneld.service",
        }
    }

    fn dropin(self) -> &'static str {
        match self {
            Wrapper::Etcd => "20-clct-etcd-member.conf",
            Wrapper::Flannel => "20-clct-flannel.conf",
        }
    }

    fn exec(self) -> &'static str {
        match self {
            Wrapper::Etcd => "/usr/lib/coreos/etcd-wrapper $ETCD_OPTS",
            Wrapper::Flannel => "/usr/lib/coreos/flannel-wrapper $FLANNEL_OPTS",
        }
    }

    fn tag_var(self) -> &'static str {
        match self {
            Wrapper::Etcd => "ETCD_IMAGE_TAG",
            Wrapper::Flannel => "FLANNEL_IMAGE_TAG",
        }
    }

    /// The version used to pick the options when none is given.
    fn default_version(self) -> Semver {
        let (major, minor) = match self {
            Wrapper::Etcd => (3, 5),
            Wrapper::Flannel => (0, 6),
        };
        Semver {
            major,
            minor,
            patch: 0,
            pre: String::new(),
            meta: String::new(),
        }
    }

    /// The options of a version (etcd.go:79, flannel.go:81); `None` past
    /// what ct knows (etcd 4+, flannel 1+), which accepts no options.
    fn options(self, v: &Semver) -> Option<&'static [CliOption]> {
        match (self, v.major, v.minor) {
            (Wrapper::Etcd, 2, m) if m >= 3 => Some(options::ETCD_2),
            (Wrapper::Etcd, 3, 0) => Some(options::ETCD_3_0),
            (Wrapper::Etcd, 3, 1) => Some(options::ETCD_3_1),
            (Wrapper::Etcd, 3, 2) => Some(options::ETCD_3_2),
            (Wrapper::Etcd, 3, 3) => Some(options::ETCD_3_3),
            (Wrapper::Etcd, 3, 4) => Some(options::ETCD_3_4),
            (Wrapper::Etcd, 3, _) => Some(options::ETCD_3_5),
            (Wrapper::Flannel, 0, m) if m >= 7 => Some(options::FLANNEL_0_7),
            (Wrapper::Flannel, 0, 6) => Some(options::FLANNEL_0_6),
            (Wrapper::Flannel, 0, 5) => Some(options::FLANNEL_0_5),
            _ => None,
        }
    }

    /// ct's version range check (etcd.go:51, flannel.go:56).
    fn check_version(self, v: &Semver) -> Option<Diagnostic> {
        let (msg, error) = match self {
            Wrapper::Etcd if v.less_than(2, 3, 0) => {
                ("Etcd version specified is not valid (too old)", true)
            }
            Wrapper::Etcd if (v.major == 2 && v.minor > 3) || (v.major == 3 && v.minor > 5) => (
                "Etcd minor version specified is too new, only options available in the previous minor version will be accepted",
                false,
            ),
            Wrapper::Etcd if v.major > 3 => ("Etcd version is not valid (too new)", true),
            Wrapper::Flannel if v.less_than(0, 5, 0) => ("invalid flannel version (too old)", true),
            Wrapper::Flannel if v.major == 0 && v.minor > 7 => (
                "flannel minor version too new. Only options available in the previous minor version will be supported",
                false,
            ),
            _ => return None,
        };
        Some(if error {
            Diagnostic::error(msg, None)
        } else {
            Diagnostic::warning(msg, None)
        })
    }
}

/// An option value, typed as ct's struct field is.
enum OptValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// `etcd:` / `flannel:` → the unit with ct's drop-in, or `None` (reported).
pub fn wrapper_unit(ctx: &mut Ctx<'_>, node: &Node, which: Wrapper) -> Option<Json> {
    let Value::Map(entries) = &node.value else {
        ctx.type_error(node, "a mapping");
        return None;
    };
    let (version, network_config) = version_and_config(ctx, entries, which)?;
    let chosen = version.clone().unwrap_or_else(|| which.default_version());
    let table = which.options(&chosen).unwrap_or(&[]);
    let values = option_values(ctx, entries, which, table, &chosen);
    let kube_subnet_mgr = table
        .iter()
        .position(|(k, _, _)| *k == "kube_subnet_mgr")
        .and_then(|i| values[i].as_ref());
    let network_config = network_config.filter(|c| !c.is_empty());
    if matches!(kube_subnet_mgr, Some(OptValue::Bool(true))) && network_config.is_some() {
        ctx.diags.error(
            "flannel network config cannot be provided if kube_subnet_mgr is set",
            node.span,
        );
    }
    let args: Vec<String> = table
        .iter()
        .zip(&values)
        .filter_map(|((_, flag, _), v)| {
            Some(match v.as_ref()? {
                OptValue::Str(s) => format!("--{flag}={}", go_quote(s)),
                OptValue::Int(n) => format!("--{flag}={n}"),
                OptValue::Bool(b) => format!("--{flag}={b}"),
            })
        })
        .collect();
    // ct's templating (`{PRIVATE_IPV4}`) needs --platform, which a stick
    // node has no metadata service for: any brace is an error, as in ct
    // without --platform (common.go:73).
    if args.iter().any(|a| a.contains(['{', '}'])) {
        ctx.diags.push(
            Diagnostic::error("platform must be specified to use templating", Some(node.span))
                .with_help("write the values themselves: a diskless stick node has no cloud metadata to fill `{…}` from"),
        );
        return None;
    }
    let mut service = Vec::new();
    if let Some(v) = &version {
        service.push(format!("Environment=\"{}=v{v}\"", which.tag_var()));
    }
    let mut exec = which.exec().to_string();
    for a in &args {
        exec.push_str(" \\\n  ");
        exec.push_str(a);
    }
    service.push("ExecStart=".into());
    service.push(format!("ExecStart={exec}"));
    if let Some(config) = network_config {
        service.push(etcdctl_pre(table, &values, &config));
    }
    let contents = format!("[Service]\n{}", service.join("\n"));
    Some(serde_json::json!({
        "name": which.unit(),
        "enable": true,
        "dropins": [{ "name": which.dropin(), "contents": contents }],
    }))
}

/// The `version` (checked against ct's range) and flannel's
/// `network_config` (checked to be JSON); `None` when the version is bad.
fn version_and_config(
    ctx: &mut Ctx<'_>,
    entries: &[Entry],
    which: Wrapper,
) -> Option<(Option<Semver>, Option<String>)> {
    let mut version = None;
    let mut network_config = None;
    for e in entries.iter().filter(|e| !e.value.is_null()) {
        match e.key.as_str() {
            "version" => {
                let text = ctx.string(&e.value)?;
                match Semver::parse(&text) {
                    Ok(v) => {
                        if let Some(mut d) = which.check_version(&v) {
                            d.span = Some(e.value.span);
                            ctx.diags.push(d);
                        }
                        version = Some(v);
                    }
                    Err(msg) => {
                        ctx.diags.push(
                            Diagnostic::error(msg, Some(e.value.span))
                                .with_help("write the version as MAJOR.MINOR.PATCH, e.g. 3.5.0"),
                        );
                        return None;
                    }
                }
            }
            "network_config" if which == Wrapper::Flannel => {
                let text = ctx.string(&e.value)?;
                if serde_json::from_str::<serde_json::Map<String, Json>>(&text).is_err() {
                    ctx.diags.error(
                        "flannel network config doesn't appear to be valid JSON",
                        e.value.span,
                    );
                }
                network_config = Some(text);
            }
            _ => {}
        }
    }
    Some((version, network_config))
}

/// The options set, typed, by their position in `table`; unknown keys are
/// warnings (with a "did you mean").
fn option_values(
    ctx: &mut Ctx<'_>,
    entries: &[Entry],
    which: Wrapper,
    table: &[CliOption],
    chosen: &Semver,
) -> Vec<Option<OptValue>> {
    let mut values: Vec<Option<OptValue>> = table.iter().map(|_| None).collect();
    for e in entries {
        if e.key == "version" || (which == Wrapper::Flannel && e.key == "network_config") {
            continue;
        }
        let Some(i) = table.iter().position(|(key, _, _)| *key == e.key) else {
            let d = Diagnostic::warning(format!("unknown key `{}`", e.key), Some(e.key_span));
            let best = table
                .iter()
                .map(|(k, _, _)| (strsim::jaro_winkler(&e.key, k), *k))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let help = match best {
                Some((_, best)) => format!("did you mean `{best}`?"),
                None => format!("{} {chosen} has no such option", which.name()),
            };
            ctx.diags.push(d.with_help(help));
            continue;
        };
        if e.value.is_null() {
            continue;
        }
        values[i] = match table[i].2 {
            Opt::Str => ctx.string(&e.value).map(OptValue::Str),
            Opt::Int => ctx.int(&e.value).map(OptValue::Int),
            Opt::Bool => ctx.boolean(&e.value).map(OptValue::Bool),
        };
    }
    values
}

/// flannel's `ExecStartPre` that stores the network config (flannel.go:138).
fn etcdctl_pre(table: &[CliOption], values: &[Option<OptValue>], config: &str) -> String {
    let get = |key: &str| {
        table
            .iter()
            .position(|(k, _, _)| *k == key)
            .and_then(|i| match &values[i] {
                Some(OptValue::Str(s)) => Some(s.as_str()),
                _ => None,
            })
    };
    let mut pre = String::from("ExecStartPre=/usr/bin/etcdctl");
    for (key, flag) in [
        ("etcd_endpoints", "endpoints"),
        ("etcd_cafile", "ca-file"),
        ("etcd_certfile", "cert-file"),
        ("etcd_keyfile", "key-file"),
    ] {
        if let Some(v) = get(key) {
            pre.push_str(&format!(" --{flag}={}", go_quote(v)));
        }
    }
    pre.push_str(&format!(
        " set /coreos.com/network/config {}",
        go_quote(config)
    ));
    pre
}

/// Go's `%q`: double quotes, `\"` and `\\`, `\n`/`\t`/`\r` escaped, other
/// control characters as `\xNN` / `\uNNNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `update` + `locksmith` (camelCase keys, as walked) → the text of
/// /etc/coreos/update.conf, exactly as ct concatenates it (update.go:71):
/// update lines after the first start with `\n`, and the locksmith block
/// is appended after a `\n` even when there is no update line before it.
/// Also ct's checks on the values.
pub fn update_conf(ctx: &mut Ctx<'_>, update: Option<&Json>, locksmith: Option<&Json>) -> String {
    fn get<'j>(j: Option<&'j Json>, k: &str) -> Option<&'j str> {
        j.and_then(|j| j.get(k)).and_then(Json::as_str)
    }
    let mut contents = String::new();
    if let Some(u) = update {
        let group = get(Some(u), "group").unwrap_or("");
        let server = get(Some(u), "server").unwrap_or("");
        if !["stable", "beta", "alpha"].contains(&group.to_lowercase().as_str())
            && server.is_empty()
        {
            let span = ctx
                .span_of("$.update.group")
                .or_else(|| ctx.span_of("$.update"));
            ctx.diags.push(
                Diagnostic::warning("unknown update group", span)
                    .with_help("use stable, beta or alpha, or name your own update `server`"),
            );
        }
        if !group.is_empty() {
            contents.push_str(&format!("GROUP={}", group.to_lowercase()));
        }
        for (key, var) in [
            ("server", "SERVER"),
            ("pcrPolicyServer", "PCR_POLICY_SERVER"),
            ("downloadUser", "DOWNLOAD_USER"),
            ("downloadPassword", "DOWNLOAD_PASSWORD"),
            ("machineAlias", "MACHINE_ALIAS"),
        ] {
            if let Some(v) = get(Some(u), key).filter(|v| !v.is_empty()) {
                contents.push_str(&format!("\n{var}={v}"));
            }
        }
    }
    if let Some(l) = locksmith {
        check_locksmith(ctx, l);
        let lines: Vec<String> = [
            ("rebootStrategy", "REBOOT_STRATEGY"),
            ("windowStart", "LOCKSMITHD_REBOOT_WINDOW_START"),
            ("windowLength", "LOCKSMITHD_REBOOT_WINDOW_LENGTH"),
            ("group", "LOCKSMITHD_GROUP"),
            ("etcdEndpoints", "LOCKSMITHD_ENDPOINT"),
            ("etcdCafile", "LOCKSMITHD_ETCD_CAFILE"),
            ("etcdCertfile", "LOCKSMITHD_ETCD_CERTFILE"),
            ("etcdKeyfile", "LOCKSMITHD_ETCD_KEYFILE"),
        ]
        .iter()
        .filter_map(|(key, var)| Some(format!("{var}={}", go_quote(get(Some(l), key)?))))
        .collect();
        if !lines.is_empty() {
            contents.push('\n');
            contents.push_str(&lines.join("\n"));
        }
    }
    contents
}

/// ct's locksmith checks (locksmith.go:54–101).
fn check_locksmith(ctx: &mut Ctx<'_>, l: &Json) {
    let get = |k: &str| l.get(k).and_then(Json::as_str).filter(|s| !s.is_empty());
    let error = |ctx: &mut Ctx<'_>, key: &str, msg: &str, help: &str| {
        let d = ctx.error_at(&format!("$.locksmith.{key}"), msg);
        ctx.diags.push(d.with_help(help));
    };
    let (start, length) = (get("windowStart"), get("windowLength"));
    if start.is_some() != length.is_some() {
        let key = if start.is_some() {
            "windowStart"
        } else {
            "windowLength"
        };
        error(
            ctx,
            key,
            "window-start and window-length must both be specified",
            "give both `window_start` (e.g. \"Thu 04:00\") and `window_length` (e.g. 1h)",
        );
    }
    if let Some(s) = get("rebootStrategy")
        && !["reboot", "etcd-lock", "off"].contains(&s.to_lowercase().as_str())
    {
        error(
            ctx,
            "rebootStrategy",
            "unknown reboot strategy",
            "use one of: reboot, etcd-lock, off",
        );
    }
    if let Some(s) = start {
        let mut words = s.split_whitespace();
        let (day, time) = match (words.next(), words.next()) {
            (Some(d), Some(t)) => (d.to_lowercase(), t),
            _ => ("not-present".to_string(), s),
        };
        let days = [
            "sun",
            "mon",
            "tue",
            "wed",
            "thu",
            "fri",
            "sat",
            "not-present",
        ];
        if !days.contains(&day.as_str()) {
            error(
                ctx,
                "windowStart",
                "unknown day in window start",
                "start with a day such as Thu, or give only the time",
            );
        } else if !is_clock_time(time) {
            error(
                ctx,
                "windowStart",
                "couldn't parse window start",
                "write the start as `HH:MM` or `Day HH:MM`, e.g. \"Thu 04:00\"",
            );
        }
    }
    if let Some(len) = length
        && !is_go_duration(len)
    {
        error(
            ctx,
            "windowLength",
            "couldn't parse window length",
            "write a duration such as 1h, 90m or 1h30m",
        );
    }
}

/// Go's `time.Parse("15:04", s)`: hour of one or two digits 0–23, `:`,
/// minute of exactly two digits 0–59, nothing else.
fn is_clock_time(s: &str) -> bool {
    let Some((h, m)) = s.split_once(':') else {
        return false;
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(h)
        && h.len() <= 2
        && h.parse::<u32>().is_ok_and(|h| h < 24)
        && digits(m)
        && m.len() == 2
        && m.parse::<u32>().is_ok_and(|m| m < 60)
}

/// Go's `time.ParseDuration` syntax: `[-+]?` then one or more
/// `<number><unit>` (units ns us µs ms s m h), or just `0`.
fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut num_len = int_len;
        let mut frac_len = 0;
        if rest[num_len..].starts_with('.') {
            frac_len = rest[num_len + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            num_len += 1 + frac_len;
        }
        if int_len == 0 && frac_len == 0 {
            return false;
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&&rest[..unit_len]) {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_like_go_semver() {
        let v = Semver::parse("3.5.1-rc.1+build").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (3, 5, 1));
        assert_eq!(v.to_string(), "3.5.1-rc.1+build");
        assert!(Semver::parse("3.5").is_err());
        assert!(Semver::parse("v3.5.0").is_err());
        assert!(Semver::parse("2.3.0-alpha").unwrap().less_than(2, 3, 0));
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("Sun 03:30"), "\"Sun 03:30\"");
        assert_eq!(go_quote("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(go_quote("a\u{1}"), "\"a\\x01\"");
    }

    #[test]
    fn clock_times_and_durations() {
        assert!(is_clock_time("04:00") && is_clock_time("4:00") && is_clock_time("23:59"));
        assert!(!is_clock_time("24:00") && !is_clock_time("4:0") && !is_clock_time("04:00x"));
        for ok in ["1h", "1h30m", "90m", "1.5h", "0", "-2s", "300ms", ".5h"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "1", "h", "1d", "1h30", "."] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }
}
