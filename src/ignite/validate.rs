//! Checks the generated Ignition config the way Ignition does before it
//! runs: absolute paths, no duplicates, valid URLs, hashes and unit names.
//! Findings point back at the YAML through the walk's span map.

use rustc_hash::FxHashMap;

use serde_json::Value as Json;

use super::diag::Diagnostic;
use super::systemd;
use super::walk::Ctx;

/// The Ignition spec family being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    V2,
    V3,
}

pub fn validate(ctx: &mut Ctx<'_>, cfg: &Json, spec: Spec) {
    let mut v = Validator { ctx, spec };
    v.config(cfg);
    if spec == Spec::V3 {
        super::validate3::validate(ctx, cfg);
    }
}

struct Validator<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    spec: Spec,
}

pub(super) fn arr<'j>(j: &'j Json, key: &str) -> &'j [Json] {
    j.get(key)
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(super) fn s<'j>(j: &'j Json, key: &str) -> Option<&'j str> {
    j.get(key).and_then(Json::as_str)
}

impl Validator<'_, '_> {
    fn err(&mut self, path: &str, msg: impl Into<String>) {
        let d = self.ctx.error_at(path, msg);
        self.ctx.diags.push(d);
    }

    /// A required field is absent. Silent when the source had the key but its
    /// value was rejected already (a type error): one finding per problem.
    fn required(&mut self, path: &str, key: &str, msg: impl Into<String>) {
        if !self
            .ctx
            .spans
            .contains_key(&format!("{path}.{}", super::walk::camel(key)))
        {
            self.err(path, msg);
        }
    }

    fn warn(&mut self, path: &str, msg: impl Into<String>) {
        let span = self.ctx.span_of(path);
        self.ctx
            .diags
            .push(Diagnostic::warning(msg, span).with_path(path));
    }

    fn config(&mut self, cfg: &Json) {
        let ign = cfg.get("ignition").cloned().unwrap_or(Json::Null);
        if let Some(config) = ign.get("config") {
            let key = if self.spec == Spec::V2 {
                "append"
            } else {
                "merge"
            };
            for (i, r) in arr(config, key).iter().enumerate() {
                self.resource(r, &format!("$.ignition.config.{key}.{i}"), true);
            }
            if let Some(r) = config.get("replace") {
                self.resource(r, "$.ignition.config.replace", true);
            }
        }
        if let Some(tls) = ign.get("security").and_then(|s| s.get("tls")) {
            for (i, r) in arr(tls, "certificateAuthorities").iter().enumerate() {
                self.resource(
                    r,
                    &format!("$.ignition.security.tls.certificateAuthorities.{i}"),
                    true,
                );
            }
        }
        if let Some(ka) = cfg.get("kernelArguments") {
            let yes: Vec<&str> = arr(ka, "shouldExist")
                .iter()
                .filter_map(Json::as_str)
                .collect();
            for (i, a) in arr(ka, "shouldNotExist").iter().enumerate() {
                if a.as_str().is_some_and(|a| yes.contains(&a)) {
                    self.err(
                        &format!("$.kernelArguments.shouldNotExist.{i}"),
                        "duplicate entry defined: a kernel argument cannot both exist and not exist",
                    );
                }
            }
        }
        if self.spec == Spec::V2 {
            self.deprecated_create(cfg);
        }
        if let Some(passwd) = cfg.get("passwd") {
            self.named_list(arr(passwd, "users"), "$.passwd.users", "name");
            self.named_list(arr(passwd, "groups"), "$.passwd.groups", "name");
        }
        if let Some(storage) = cfg.get("storage") {
            self.storage(storage);
        }
        if let Some(systemd) = cfg.get("systemd") {
            self.units(arr(systemd, "units"), "$.systemd.units", true);
        }
        if let Some(networkd) = cfg.get("networkd") {
            self.units(arr(networkd, "units"), "$.networkd.units", false);
        }
    }

    /// Spec 2's deprecated `create` objects (flatcar/ignition v0.36.2
    /// config/v2_3/types/passwd.go:22 and filesystem.go:40): a warning, and
    /// an error for each user- or mount-level field set beside one.
    fn deprecated_create(&mut self, cfg: &Json) {
        let set = |v: Option<&Json>| match v {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(Json::String(s)) => !s.is_empty(),
            Some(Json::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        let users = cfg.get("passwd").map(|p| arr(p, "users")).unwrap_or(&[]);
        for (i, u) in users.iter().enumerate() {
            if u.get("create").is_none() {
                continue;
            }
            let p = format!("$.passwd.users.{i}");
            self.warn(
                &format!("{p}.create"),
                "the create object has been deprecated in favor of user-level options",
            );
            for key in [
                "gecos",
                "groups",
                "homeDir",
                "noCreateHome",
                "noLogInit",
                "noUserGroup",
                "primaryGroup",
                "shell",
                "system",
                "uid",
            ] {
                if set(u.get(key)) {
                    self.err(
                        &format!("{p}.{key}"),
                        format!("cannot use both the create object and the user-level {key} field"),
                    );
                }
            }
        }
        let filesystems = cfg
            .get("storage")
            .map(|s| arr(s, "filesystems"))
            .unwrap_or(&[]);
        for (i, fs) in filesystems.iter().enumerate() {
            let Some(mount) = fs.get("mount").filter(|m| m.get("create").is_some()) else {
                continue;
            };
            let p = format!("$.storage.filesystems.{i}.mount");
            if set(mount.get("wipeFilesystem")) {
                self.err(
                    &format!("{p}.wipeFilesystem"),
                    "cannot use both create object and wipeFilesystem field",
                );
            }
            if set(mount.get("options")) {
                self.err(
                    &format!("{p}.options"),
                    "cannot use both create object and mount-level options field",
                );
            }
            self.warn(
                &format!("{p}.create"),
                "the create object has been deprecated in favor of mount-level options",
            );
        }
    }

    /// Every entry needs `key`, and no two may share it.
    fn named_list(&mut self, items: &[Json], path: &str, key: &str) {
        let mut seen = FxHashMap::default();
        for (i, it) in items.iter().enumerate() {
            let p = format!("{path}.{i}");
            match s(it, key) {
                None | Some("") => self.required(&p, key, format!("field \"{key}\" is required")),
                Some(name) => {
                    if seen.insert(name.to_string(), i).is_some() {
                        self.err(&p, "duplicate entry defined");
                    }
                }
            }
        }
    }

    fn storage(&mut self, st: &Json) {
        let fs_names: Vec<&str> = arr(st, "filesystems")
            .iter()
            .filter_map(|f| s(f, "name"))
            .collect();
        let mut seen: FxHashMap<String, ()> = FxHashMap::default();
        for list in ["files", "directories", "links"] {
            for (i, n) in arr(st, list).iter().enumerate() {
                let p = format!("$.storage.{list}.{i}");
                let fs = s(n, "filesystem").unwrap_or("root");
                match s(n, "path") {
                    None | Some("") => self.required(&p, "path", "field \"path\" is required"),
                    Some(path) => {
                        if !path.starts_with('/') {
                            self.err(&format!("{p}.path"), "path not absolute");
                        }
                        // Spec 2 (ct) accepts duplicate paths; spec 3 does not.
                        if self.spec == Spec::V3
                            && seen.insert(format!("{fs}:{path}"), ()).is_some()
                        {
                            self.err(&p, "duplicate entry defined");
                        }
                    }
                }
                if self.spec == Spec::V2 && fs != "root" && !fs_names.contains(&fs) {
                    self.err(
                        &format!("{p}.filesystem"),
                        format!("no filesystem named \"{fs}\" is defined"),
                    );
                }
                if let Some(mode) = n.get("mode").and_then(Json::as_i64)
                    && !(0..=0o7777).contains(&mode)
                {
                    self.err(&format!("{p}.mode"), "illegal file mode");
                }
                match list {
                    "files" => {
                        if let Some(c) = n.get("contents") {
                            self.resource(c, &format!("{p}.contents"), false);
                        }
                        for (j, a) in arr(n, "append").iter().enumerate() {
                            self.resource(a, &format!("{p}.append.{j}"), false);
                        }
                    }
                    "links" => match s(n, "target") {
                        None | Some("") => self.required(&p, "target", "link target is required"),
                        Some(t)
                            if n.get("hard").and_then(Json::as_bool) == Some(true)
                                && !t.starts_with('/') =>
                        {
                            self.err(
                                &format!("{p}.target"),
                                "hard link target must be an absolute path",
                            )
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        for (i, fs) in arr(st, "filesystems").iter().enumerate() {
            let p = format!("$.storage.filesystems.{i}");
            let mount = if self.spec == Spec::V2 {
                fs.get("mount").unwrap_or(&Json::Null)
            } else {
                fs
            };
            if let Some(dev) = s(mount, "device")
                && !(self.spec == Spec::V3 && dev.is_empty())
                && !dev.starts_with('/')
            {
                self.err(&format!("{p}.device"), "path not absolute");
            }
            if let Some(fmt) = s(mount, "format") {
                let ok = ["ext4", "btrfs", "xfs", "vfat", "swap", "none", ""];
                if !ok.contains(&fmt) {
                    self.err(
                        &format!("{p}.format"),
                        format!("invalid filesystem format \"{fmt}\""),
                    );
                }
            }
            if let Some(path) = s(fs, "path")
                && !path.starts_with('/')
            {
                self.err(&format!("{p}.path"), "path not absolute");
            }
        }
        for (i, d) in arr(st, "disks").iter().enumerate() {
            if let Some(dev) = s(d, "device")
                && !(self.spec == Spec::V3 && dev.is_empty())
                && !dev.starts_with('/')
            {
                self.err(&format!("$.storage.disks.{i}.device"), "path not absolute");
            }
        }
        self.named_list(arr(st, "raid"), "$.storage.raid", "name");
        self.named_list(arr(st, "luks"), "$.storage.luks", "name");
    }

    fn units(&mut self, units: &[Json], path: &str, systemd_units: bool) {
        let mut seen = FxHashMap::default();
        for (i, u) in units.iter().enumerate() {
            let p = format!("{path}.{i}");
            let name = s(u, "name").unwrap_or("");
            // A name rejected during the walk (a type error) was reported already.
            let rejected = name.is_empty() && self.ctx.spans.contains_key(&format!("{p}.name"));
            if !rejected && systemd_units && !systemd::valid_unit_name(name) {
                self.err(
                    &format!("{p}.name"),
                    format!("invalid systemd unit extension: \"{name}\""),
                );
            } else if !rejected && name.is_empty() {
                self.err(&p, "field \"name\" is required");
            }
            if !name.is_empty() && seen.insert(name.to_string(), i).is_some() {
                self.err(&p, "duplicate entry defined");
            }
            let enabled = u.get("enabled").and_then(Json::as_bool) == Some(true)
                || u.get("enable").and_then(Json::as_bool) == Some(true);
            let contents = s(u, "contents").unwrap_or("");
            if let Some(options) = self.unit_contents(contents, &format!("{p}.contents"))
                && enabled
                && !contents.is_empty()
                && !systemd::has_install_option(&options)
            {
                self.warn(
                        &format!("{p}.contents"),
                        format!("unit \"{name}\" is enabled, but has no install section so enable does nothing"),
                    );
            }
            let mut seen_dropins = FxHashMap::default();
            for (j, d) in arr(u, "dropins").iter().enumerate() {
                let dp = format!("{p}.dropins.{j}");
                let dname = s(d, "name").unwrap_or("");
                self.unit_contents(s(d, "contents").unwrap_or(""), &format!("{dp}.contents"));
                if systemd_units && !dname.ends_with(".conf") {
                    self.err(
                        &format!("{dp}.name"),
                        "invalid systemd unit drop-in extension",
                    );
                }
                if seen_dropins.insert(dname.to_string(), j).is_some() {
                    self.err(&dp, "duplicate entry defined");
                }
            }
        }
    }

    /// Unit or drop-in text as Ignition parses it (`validateUnitContent`,
    /// flatcar/ignition v2_3/types/unit.go; `ParseUnitContents` in v3):
    /// its options, or `None` after reporting why it does not parse.
    fn unit_contents(&mut self, text: &str, path: &str) -> Option<Vec<systemd::UnitOption>> {
        systemd::parse_unit(text)
            .map_err(|e| self.err(path, format!("invalid unit content: {e}")))
            .ok()
    }

    fn resource(&mut self, r: &Json, path: &str, source_required: bool) {
        match s(r, "source") {
            None if source_required => self.err(path, "source is required"),
            None => {}
            Some(src) => {
                if let Err(msg) = check_url(src) {
                    self.err(&format!("{path}.source"), msg);
                }
            }
        }
        if let Some(c) = s(r, "compression")
            && !c.is_empty()
            && c != "gzip"
        {
            self.err(
                &format!("{path}.compression"),
                format!("invalid compression method \"{c}\""),
            );
        }
        if let Some(hash) = r.get("verification").and_then(|v| s(v, "hash"))
            && let Err(msg) = check_hash(hash)
        {
            self.err(&format!("{path}.verification.hash"), msg);
        }
        let mut names = FxHashMap::default();
        for (i, h) in arr(r, "httpHeaders").iter().enumerate() {
            let hp = format!("{path}.httpHeaders.{i}");
            match s(h, "name") {
                None | Some("") => self.err(&hp, "header name is required"),
                Some(n) => {
                    // Keyed by the exact name (ignition v3_4/types/headers.go).
                    if names.insert(n.to_string(), ()).is_some() {
                        self.err(&hp, "duplicate entry defined");
                    }
                }
            }
        }
    }
}

/// A URL Ignition can fetch: a scheme it knows and a well-formed rest.
pub fn check_url(src: &str) -> Result<(), String> {
    let Some((scheme, rest)) = src.split_once(':') else {
        return Err(format!("invalid url \"{src}\": no scheme"));
    };
    match scheme {
        "http" | "https" | "tftp" | "s3" | "gs" => {
            let host = rest.strip_prefix("//").unwrap_or("");
            if host.is_empty() || host.starts_with('/') {
                return Err(format!("invalid url \"{src}\": missing host"));
            }
            if src.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("invalid url \"{src}\": contains whitespace"));
            }
            Ok(())
        }
        "arn" => Ok(()),
        "data" => {
            if rest.contains(',') {
                Ok(())
            } else {
                Err("invalid data url: missing ','".to_string())
            }
        }
        _ => Err(format!("invalid url scheme \"{scheme}\"")),
    }
}

/// `sha512-<128 hex>` or `sha256-<64 hex>`.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let Some((func, sum)) = hash.split_once('-') else {
        return Err(format!("malformed hash specifier \"{hash}\""));
    };
    let len = match func {
        "sha512" => 128,
        "sha256" => 64,
        _ => return Err(format!("unrecognized hash function \"{func}\"")),
    };
    if sum.len() != len || !sum.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "incorrect size or characters for a {func} hash sum"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://get.k3s.io/").is_ok());
        assert!(check_url("data:,x").is_ok());
        assert!(check_url("ftp://x/y").is_err());
        assert!(check_url("https:///x").is_err());
        assert!(check_url("no-scheme").is_err());
    }

    #[test]
    fn hashes() {
        assert!(check_hash(&format!("sha512-{}", "a".repeat(128))).is_ok());
        assert!(check_hash(&format!("sha256-{}", "0".repeat(64))).is_ok());
        assert!(check_hash(&format!("sha512-{}", "a".repeat(127))).is_err());
        assert!(check_hash("md5-abc").is_err());
        assert!(check_hash("abc").is_err());
    }
}
