//! Ignition 3.x's own checks of a config (coreos/ignition v2.26.0
//! `config/v3_4/types/*.go`, messages from `config/shared/errors`), which
//! Butane runs on what it generates (butane config/util/util.go:96) and so
//! does mkstick on every 3.x output. [`super::validate`] holds the checks
//! shared with spec 2; this module the storage, proxy and resource rules
//! that only spec 3 has in this form.

use serde_json::Value as Json;

use super::diag::Diagnostic;
use super::validate::{arr, s};
use super::walk::Ctx;

pub(super) fn validate(ctx: &mut Ctx<'_>, cfg: &Json) {
    let mut v = V3 { ctx };
    if let Some(proxy) = cfg.get("ignition").and_then(|i| i.get("proxy")) {
        v.proxy(proxy);
    }
    if let Some(st) = cfg.get("storage") {
        for (i, d) in arr(st, "disks").iter().enumerate() {
            v.disk(d, &format!("$.storage.disks.{i}"));
        }
        for (i, r) in arr(st, "raid").iter().enumerate() {
            v.raid(r, &format!("$.storage.raid.{i}"));
        }
        for (i, f) in arr(st, "filesystems").iter().enumerate() {
            v.filesystem(f, &format!("$.storage.filesystems.{i}"));
        }
        for (i, l) in arr(st, "luks").iter().enumerate() {
            v.luks(l, &format!("$.storage.luks.{i}"));
        }
        v.nodes(st);
        v.links(st);
        v.filesystems_on_disks(st);
    }
    v.systemd_paths(cfg);
    v.template_units(cfg);
    v.duplicates(cfg);
    for (path, r) in resources(cfg) {
        v.resource(r, &path);
    }
}

/// Every resource of a config, by path.
fn resources(cfg: &Json) -> Vec<(String, &Json)> {
    let mut out = Vec::new();
    let ign = cfg.get("ignition");
    let config = ign.and_then(|i| i.get("config"));
    if let Some(c) = config {
        for (i, r) in arr(c, "merge").iter().enumerate() {
            out.push((format!("$.ignition.config.merge.{i}"), r));
        }
        if let Some(r) = c.get("replace") {
            out.push(("$.ignition.config.replace".into(), r));
        }
    }
    if let Some(tls) = ign
        .and_then(|i| i.get("security"))
        .and_then(|s| s.get("tls"))
    {
        for (i, r) in arr(tls, "certificateAuthorities").iter().enumerate() {
            out.push((
                format!("$.ignition.security.tls.certificateAuthorities.{i}"),
                r,
            ));
        }
    }
    let st = cfg.get("storage");
    for (i, f) in st
        .map(|s| arr(s, "files"))
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if let Some(r) = f.get("contents") {
            out.push((format!("$.storage.files.{i}.contents"), r));
        }
        for (j, r) in arr(f, "append").iter().enumerate() {
            out.push((format!("$.storage.files.{i}.append.{j}"), r));
        }
    }
    for (i, l) in st.map(|s| arr(s, "luks")).unwrap_or(&[]).iter().enumerate() {
        if let Some(r) = l.get("keyFile") {
            out.push((format!("$.storage.luks.{i}.keyFile"), r));
        }
    }
    out
}

struct V3<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

/// Go's `path.Clean` (lexical: `.`, `..`, repeated and trailing slashes).
pub(super) fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// `clean(p) == p` for an absolute `p`, without allocating (every file of a
/// large config is checked).
fn is_clean(p: &str) -> bool {
    p == "/"
        || (p.starts_with('/')
            && p[1..]
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".."))
}

/// `validatePath` (config/v3_4/types/path.go).
fn path_error(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        Some("path not specified")
    } else if !p.starts_with('/') {
        Some("path not absolute")
    } else if !is_clean(p) {
        Some("path is not fully simplified")
    } else {
        None
    }
}

/// `guidRegexStr` (config/v3_4/types/partition.go): empty or 8-4-4-4-12 hex.
fn valid_guid(g: &str) -> bool {
    if g.is_empty() {
        return true;
    }
    let parts: Vec<&str> = g.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn int(j: &Json, key: &str) -> Option<i64> {
    j.get(key).and_then(Json::as_i64)
}

fn is_false(j: &Json, key: &str) -> bool {
    j.get(key).and_then(Json::as_bool) == Some(false)
}

fn is_true(j: &Json, key: &str) -> bool {
    j.get(key).and_then(Json::as_bool) == Some(true)
}

fn nonempty(j: &Json, key: &str) -> bool {
    s(j, key).is_some_and(|v| !v.is_empty())
}

impl V3<'_, '_> {
    fn err(&mut self, path: &str, msg: &str) {
        let d = self.ctx.error_at(path, msg);
        self.ctx.diags.push(d);
    }

    fn warn(&mut self, path: &str, msg: &str) {
        let span = self.ctx.span_of(path);
        self.ctx
            .diags
            .push(Diagnostic::warning(msg, span).with_path(path));
    }

    /// `Proxy.Validate` (proxy.go).
    fn proxy(&mut self, proxy: &Json) {
        for (key, http_ok) in [("httpProxy", true), ("httpsProxy", false)] {
            let Some(url) = s(proxy, key) else { continue };
            let path = format!("$.ignition.proxy.{key}");
            let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
            match scheme.as_deref() {
                Some("https") => {}
                Some("http") if http_ok => {}
                Some("http") => self.warn(
                    &path,
                    "insecure plaintext HTTP proxy specified for HTTPS resources",
                ),
                _ => self.err(&path, "proxies must be http(s)"),
            }
        }
    }

    /// Ignition's `ValidateDups` (config/validate/validate.go:31) over the
    /// lists not checked in [`super::validate`]: strings are their own key,
    /// resources are keyed by source, partitions by number or label,
    /// disks and filesystems by device.
    fn duplicates(&mut self, cfg: &Json) {
        let key = |j: &Json| j.as_str().map(str::to_string);
        let by = |k: &'static str| move |j: &Json| Some(s(j, k).unwrap_or("").to_string());
        let part = |j: &Json| {
            Some(match (int(j, "number").unwrap_or(0), s(j, "label")) {
                (0, Some(l)) => format!("label:{l}"),
                (0, None) => String::new(),
                (n, _) => format!("number:{n}"),
            })
        };
        let get = |j: &Json, path: &[&str]| -> Option<Json> {
            path.iter().try_fold(j, |j, k| j.get(*k)).cloned()
        };
        if let Some(ka) = cfg.get("kernelArguments") {
            for list in ["shouldExist", "shouldNotExist"] {
                self.dups(arr(ka, list), &format!("$.kernelArguments.{list}"), key);
            }
        }
        if let Some(np) = get(cfg, &["ignition", "proxy"]) {
            self.dups(arr(&np, "noProxy"), "$.ignition.proxy.noProxy", key);
        }
        if let Some(c) = get(cfg, &["ignition", "config"]) {
            self.dups(arr(&c, "merge"), "$.ignition.config.merge", by("source"));
        }
        if let Some(tls) = get(cfg, &["ignition", "security", "tls"]) {
            let p = "$.ignition.security.tls.certificateAuthorities";
            self.dups(arr(&tls, "certificateAuthorities"), p, by("source"));
        }
        let users = get(cfg, &["passwd", "users"]).unwrap_or(Json::Null);
        for (i, u) in users.as_array().into_iter().flatten().enumerate() {
            for list in ["sshAuthorizedKeys", "groups"] {
                self.dups(arr(u, list), &format!("$.passwd.users.{i}.{list}"), key);
            }
        }
        let Some(st) = cfg.get("storage") else { return };
        self.dups(arr(st, "disks"), "$.storage.disks", by("device"));
        self.dups(
            arr(st, "filesystems"),
            "$.storage.filesystems",
            by("device"),
        );
        for (i, d) in arr(st, "disks").iter().enumerate() {
            let p = format!("$.storage.disks.{i}.partitions");
            self.dups(arr(d, "partitions"), &p, part);
        }
        for (i, r) in arr(st, "raid").iter().enumerate() {
            self.dups(
                arr(r, "devices"),
                &format!("$.storage.raid.{i}.devices"),
                key,
            );
        }
        for (i, l) in arr(st, "luks").iter().enumerate() {
            let p = format!("$.storage.luks.{i}.openOptions");
            self.dups(arr(l, "openOptions"), &p, key);
        }
    }

    fn dups(&mut self, items: &[Json], path: &str, key: impl Fn(&Json) -> Option<String>) {
        let mut seen = std::collections::HashSet::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(k) = key(item)
                && !seen.insert(k)
            {
                self.err(&format!("{path}.{i}"), "duplicate entry defined");
            }
        }
    }

    /// `Resource.Validate` and `HTTPHeader.Validate` (resource.go,
    /// headers.go); URLs, hashes and header names are checked in
    /// [`super::validate`].
    fn resource(&mut self, r: &Json, p: &str) {
        let source = s(r, "source");
        if r.get("verification").and_then(|v| v.get("hash")).is_some() && source.is_none() {
            self.err(
                &format!("{p}.verification.hash"),
                "source must be specified if verification is specified",
            );
        }
        let headers = arr(r, "httpHeaders");
        if !headers.is_empty() {
            let scheme = source.and_then(|s| s.split_once(':')).map(|(s, _)| s);
            match scheme {
                None => self.err(&format!("{p}.httpHeaders"), "unable to parse url"),
                Some("http" | "https") => {}
                Some(_) => self.err(
                    &format!("{p}.httpHeaders"),
                    "cannot use HTTP headers with this source scheme",
                ),
            }
        }
        for (i, h) in headers.iter().enumerate() {
            if s(h, "value") == Some("") {
                self.err(
                    &format!("{p}.httpHeaders.{i}.value"),
                    "unable to parse HTTP header",
                );
            }
        }
        if p.ends_with(".keyFile")
            && let Some(src) = source.filter(|s| !s.is_empty())
            && super::validate::check_url(src).is_err()
        {
            self.err(&format!("{p}.source"), "invalid key-file source");
        }
    }

    /// `Disk.Validate` and `Partition.Validate` (disk.go, partition.go).
    fn disk(&mut self, d: &Json, p: &str) {
        // A relative device is reported by the shared checks.
        match s(d, "device").unwrap_or("") {
            "" => return self.err(&format!("{p}.device"), "disk device is required"),
            dev if dev.starts_with('/') && !is_clean(dev) => {
                self.err(&format!("{p}.device"), "path is not fully simplified");
            }
            _ => {}
        }
        let parts = arr(d, "partitions");
        for (i, part) in parts.iter().enumerate() {
            self.partition(part, &format!("{p}.partitions.{i}"));
        }
        let number = |x: &Json| int(x, "number").unwrap_or(0);
        let collide = (0..parts.len()).find(|&i| {
            number(&parts[i]) != 0 && parts[..i].iter().any(|o| number(o) == number(&parts[i]))
        });
        if let Some(i) = collide {
            self.err(&format!("{p}.partitions.{i}"), "partition numbers collide");
        }
        if let Some(i) = overlap(parts) {
            self.err(&format!("{p}.partitions.{i}"), "partitions overlap");
        }
        if parts.iter().any(|x| is_false(x, "shouldExist")) && parts.iter().any(|x| number(x) == 0)
        {
            self.err(
                &format!("{p}.partitions"),
                "shouldExist is false for a partition and other partition(s) has start or size 0",
            );
        }
        let label = |x: &Json| s(x, "label").map(str::to_string);
        let dup = (0..parts.len()).find(|&i| {
            label(&parts[i]).is_some() && parts[..i].iter().any(|o| label(o) == label(&parts[i]))
        });
        if let Some(i) = dup {
            self.err(
                &format!("{p}.partitions.{i}"),
                "cannot use the same partition label twice",
            );
        }
    }

    fn partition(&mut self, part: &Json, p: &str) {
        let has = |k: &str| part.get(k).is_some();
        if is_false(part, "shouldExist")
            && (has("label")
                || nonempty(part, "typeGuid")
                || nonempty(part, "guid")
                || has("startMiB")
                || has("sizeMiB"))
        {
            self.err(
                p,
                "shouldExist specified false with other options also specified",
            );
        }
        if int(part, "number").unwrap_or(0) == 0 && !has("label") {
            self.err(p, "a partition number >= 1 or a label must be specified");
        }
        if let Some(label) = s(part, "label") {
            if label.len() > 36 {
                self.err(
                    &format!("{p}.label"),
                    "partition labels may not exceed 36 characters",
                );
            } else if label.contains(':') {
                self.err(
                    &format!("{p}.label"),
                    "partition label will be truncated to text before the colon",
                );
            }
        }
        for key in ["guid", "typeGuid"] {
            if s(part, key).is_some_and(|g| !valid_guid(g)) {
                self.err(
                    &format!("{p}.{key}"),
                    "doesn't match the form \"01234567-89AB-CDEF-EDCB-A98765432101\"",
                );
            }
        }
    }

    /// `Raid.Validate` (raid.go).
    fn raid(&mut self, r: &Json, p: &str) {
        let spares = int(r, "spares").unwrap_or(0);
        let level_err = match s(r, "level").unwrap_or("") {
            "" => Some("raid level is required"),
            "linear" | "raid0" | "0" | "stripe" if spares != 0 => {
                Some("spares unsupported for linear and raid0 arrays")
            }
            "linear" | "raid0" | "0" | "stripe" | "raid1" | "1" | "mirror" | "raid4" | "4"
            | "raid5" | "5" | "raid6" | "6" | "raid10" | "10" => None,
            _ => Some("unrecognized raid level"),
        };
        if let Some(e) = level_err {
            self.err(&format!("{p}.level"), e);
        }
        if arr(r, "devices").is_empty() {
            self.err(&format!("{p}.devices"), "raid devices required");
        }
        // Each device is a `Device`, validated as a path (device.go).
        for (i, d) in arr(r, "devices").iter().enumerate() {
            if let Some(e) = d.as_str().and_then(path_error) {
                self.err(&format!("{p}.devices.{i}"), e);
            }
        }
    }

    /// `Filesystem.Validate` (filesystem.go); the format list and absolute
    /// paths are checked in [`super::validate`].
    fn filesystem(&mut self, f: &Json, p: &str) {
        for key in ["device", "path"] {
            if let Some(Some("path is not fully simplified")) = s(f, key).map(path_error) {
                self.err(&format!("{p}.{key}"), "path is not fully simplified");
            }
        }
        if s(f, "device").is_none_or(str::is_empty) {
            self.err(&format!("{p}.device"), "path not specified");
        }
        let format = s(f, "format").unwrap_or("");
        if format.is_empty()
            && (nonempty(f, "path")
                || nonempty(f, "label")
                || nonempty(f, "uuid")
                || is_true(f, "wipeFilesystem")
                || !arr(f, "mountOptions").is_empty()
                || !arr(f, "options").is_empty())
        {
            self.err(
                &format!("{p}.format"),
                "format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified",
            );
        }
        let Some(label) = s(f, "label").filter(|l| !l.is_empty()) else {
            return;
        };
        let max = match format {
            "" => {
                return self.err(
                    &format!("{p}.label"),
                    "filesystem must specify format if label is specified",
                );
            }
            "ext4" => 16,
            "btrfs" => 256,
            "xfs" => 12,
            "swap" => 15,
            "vfat" => 11,
            _ => return,
        };
        if label.len() > max {
            self.err(
                &format!("{p}.label"),
                &format!(
                    "filesystem labels cannot be longer than {max} characters when using {format}"
                ),
            );
        }
    }

    /// `Luks.Validate` (luks.go).
    fn luks(&mut self, l: &Json, p: &str) {
        if s(l, "name").is_some_and(|n| n.contains('/')) {
            self.err(&format!("{p}.name"), "device names cannot contain slashes");
        }
        if s(l, "label").is_some_and(|x| x.len() > 47) {
            self.err(
                &format!("{p}.label"),
                "luks device labels cannot be longer than 47 characters",
            );
        }
        match s(l, "device").filter(|d| !d.is_empty()) {
            None => self.err(&format!("{p}.device"), "disk device is required"),
            Some(d) => {
                if let Some(e) = path_error(d) {
                    self.err(&format!("{p}.device"), e);
                }
            }
        }
    }

    /// `Node.Validate`, `File.validateOverwrite`, `NodeUser`/`NodeGroup`
    /// (node.go, file.go) and the link-in-path checks (storage.go).
    fn nodes(&mut self, st: &Json) {
        let links: Vec<&str> = arr(st, "links")
            .iter()
            .filter_map(|l| s(l, "path"))
            .collect();
        for (list, used) in [
            ("files", "file path includes link in config"),
            ("directories", "directory path includes link in config"),
            ("links", "link path includes link in config"),
        ] {
            for (i, n) in arr(st, list).iter().enumerate() {
                let p = format!("$.storage.{list}.{i}");
                let path = s(n, "path").unwrap_or("");
                if path.starts_with('/') && !is_clean(path) {
                    self.err(&format!("{p}.path"), "path is not fully simplified");
                }
                if links.iter().any(|l| path.starts_with(&format!("{l}/"))) {
                    self.err(&p, used);
                }
                for owner in ["user", "group"] {
                    if let Some(o) = n.get(owner)
                        && o.get("id").is_some()
                        && nonempty(o, "name")
                    {
                        self.err(&format!("{p}.{owner}"), "cannot set both id and name");
                    }
                }
                let no_source = n.get("contents").and_then(|c| c.get("source")).is_none();
                if list == "files" && is_true(n, "overwrite") && no_source {
                    self.err(
                        &format!("{p}.overwrite"),
                        "overwrite must be false if source is unspecified",
                    );
                }
            }
        }
    }

    /// Hard links (storage.go `validateLinks`).
    fn links(&mut self, st: &Json) {
        let dirs: Vec<&str> = arr(st, "directories")
            .iter()
            .filter_map(|d| s(d, "path"))
            .collect();
        for (i, l) in arr(st, "links").iter().enumerate() {
            let (Some(target), true) = (s(l, "target"), is_true(l, "hard")) else {
                continue;
            };
            let p = format!("$.storage.links.{i}");
            let target = if target.starts_with('/') {
                clean(target)
            } else {
                clean(&format!("{}/{target}", s(l, "path").unwrap_or("")))
            };
            if dirs.contains(&target.as_str()) {
                self.err(&p, "hard link target is a directory");
            }
            for owner in ["user", "group"] {
                for key in ["id", "name"] {
                    if l.get(owner).and_then(|o| o.get(key)).is_some() {
                        self.warn(
                            &format!("{p}.{owner}.{key}"),
                            "user/group ignored for hard link",
                        );
                    }
                }
            }
        }
    }

    /// storage.go `validateFilesystems`: a filesystem on a whole disk that
    /// is partitioned or wiped.
    fn filesystems_on_disks(&mut self, st: &Json) {
        for (i, f) in arr(st, "filesystems").iter().enumerate() {
            let dev = s(f, "device");
            let Some(disk) = arr(st, "disks")
                .iter()
                .rev()
                .find(|d| s(d, "device") == dev)
            else {
                continue;
            };
            let p = format!("$.storage.filesystems.{i}.device");
            if !arr(disk, "partitions").is_empty() {
                self.warn(&p, "filesystem overwrites partitioned device");
            } else if !is_true(f, "wipeFilesystem") && is_true(disk, "wipeTable") {
                self.warn(
                    &p,
                    "device matches disk with wipeTable enabled; filesystem will be wiped",
                );
            }
        }
    }

    /// config.go: a file, directory or link where a unit or drop-in is written.
    fn systemd_paths(&mut self, cfg: &Json) {
        let units = cfg.get("systemd").map(|s| arr(s, "units")).unwrap_or(&[]);
        let mut taken = Vec::new();
        for u in units {
            let name = s(u, "name").unwrap_or("");
            if nonempty(u, "contents") {
                taken.push(format!("/etc/systemd/system/{name}"));
            }
            for d in arr(u, "dropins").iter().filter(|d| nonempty(d, "contents")) {
                let dname = s(d, "name").unwrap_or("");
                taken.push(format!("/etc/systemd/system/{name}.d/{dname}"));
            }
        }
        let Some(st) = cfg.get("storage") else { return };
        for list in ["files", "directories", "links"] {
            for (i, n) in arr(st, list).iter().enumerate() {
                if s(n, "path").is_some_and(|p| taken.iter().any(|t| t == p)) {
                    self.err(
                        &format!("$.storage.{list}.{i}.path"),
                        "path conflicts with systemd unit or dropin",
                    );
                }
            }
        }
    }

    /// systemd.go: an enabled instance `a@b.service` whose template
    /// `a@.service` has contents without `[Install]`.
    fn template_units(&mut self, cfg: &Json) {
        let units = cfg.get("systemd").map(|s| arr(s, "units")).unwrap_or(&[]);
        for (i, u) in units.iter().enumerate() {
            let name = s(u, "name").unwrap_or("");
            let Some((base, inst)) = name
                .strip_suffix(".service")
                .and_then(|n| n.split_once('@'))
            else {
                continue;
            };
            if base.is_empty() || inst.is_empty() || !is_true(u, "enabled") {
                continue;
            }
            let template = format!("{base}@.service");
            let contents = units
                .iter()
                .rev()
                .find(|t| s(t, "name") == Some(template.as_str()))
                .and_then(|t| s(t, "contents"))
                .filter(|c| !c.is_empty());
            let parsed = contents.and_then(|c| super::systemd::parse_unit(c).ok());
            if parsed.is_some_and(|o| !super::systemd::has_install_option(&o)) {
                self.warn(
                    &format!("$.systemd.units.{i}.contents"),
                    &format!(
                        "template unit \"{template}\" for \"{name}\" doesn't have Install section"
                    ),
                );
            }
        }
    }
}

/// `Disk.partitionsOverlap` (disk.go): the index of the partition that an
/// explicitly placed one overlaps.
fn overlap(parts: &[Json]) -> Option<usize> {
    let placed = |x: &Json| match (int(x, "startMiB"), int(x, "sizeMiB")) {
        (Some(start), Some(size)) if start != 0 => {
            Some((start, if size == 0 { start } else { start + size - 1 }))
        }
        _ => None,
    };
    for (pi, p) in parts.iter().enumerate() {
        let Some((ps, pe)) = placed(p) else { continue };
        for (i, o) in parts.iter().enumerate() {
            let Some((os, oe)) = placed(o).filter(|_| i != pi && o != p) else {
                continue;
            };
            if (ps >= os && ps <= oe) || (pe >= os && pe <= oe) || (ps < os && pe > oe) {
                return Some(i);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        for (a, b) in [
            ("/a/b/", "/a/b"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/..", "/"),
            ("/", "/"),
            ("/etc/hosts", "/etc/hosts"),
            ("/.hidden/..x", "/.hidden/..x"),
            ("a/../..", ".."),
            ("", "."),
        ] {
            assert_eq!(clean(a), b, "{a}");
            if a.starts_with('/') {
                assert_eq!(is_clean(a), clean(a) == a, "{a}");
            }
        }
    }

    #[test]
    fn guids() {
        assert!(valid_guid(""));
        assert!(valid_guid("0FC63DAF-8483-4772-8E79-3D69D8477DE4"));
        assert!(!valid_guid("0FC63DAF-8483-4772-8E79-3D69D8477DE"));
        assert!(!valid_guid("linux"));
    }

    #[test]
    fn overlaps() {
        let p = |s: i64, z: i64| serde_json::json!({"startMiB": s, "sizeMiB": z});
        assert_eq!(overlap(&[p(1, 10), p(20, 5)]), None);
        assert_eq!(overlap(&[p(1, 10), p(10, 5)]), Some(1));
        // start 0 is placed by sgdisk, never checked
        assert_eq!(overlap(&[p(0, 10), p(1, 5)]), None);
    }
}
