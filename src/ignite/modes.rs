//! Butane's file-mode heuristics (translate/util.go in coreos/butane): a
//! decimal mode that only makes sense as octal, and special bits that
//! Ignition before spec 3.6.0 ignores.

/// A mode warning: the message and, when there is one, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeWarning {
    pub message: &'static str,
    pub help: Option<String>,
}

/// The warnings Butane gives for `mode` on a file or directory.
pub fn warnings(mode: i64, dir: bool) -> Vec<ModeWarning> {
    let mut out = Vec::new();
    if let Some(octal) = decimal_mode_to_octal(mode)
        && !is_typical_mode(mode, dir)
        && is_typical_mode(octal, dir)
    {
        out.push(ModeWarning {
            message: "unreasonable mode would be reasonable if specified in octal; remember to add a leading zero",
            help: Some(format!("write `0{mode}`")),
        });
    }
    if mode & 0o7000 != 0 {
        out.push(ModeWarning {
            message: "setuid/setgid/sticky bits are not supported or functional in spec versions older than 3.6.0",
            help: None,
        });
    }
    out
}

/// `0755`-looking decimal ints: the octal value their digits spell.
fn decimal_mode_to_octal(mode: i64) -> Option<i64> {
    if !(0..=7777).contains(&mode) {
        return None;
    }
    let mut out = 0;
    for div in [1000, 100, 10, 1] {
        let digit = (mode / div) % 10;
        if digit > 7 {
            return None;
        }
        out = (out << 3) | digit;
    }
    Some(out)
}

/// Whether a mode is an unsurprising one (Butane's heuristic).
fn is_typical_mode(mode: i64, dir: bool) -> bool {
    if mode == 0 {
        return true;
    }
    let (mut had_r, mut had_w, mut had_x) = (false, false, false);
    for perm in [mode & 7, (mode >> 3) & 7, (mode >> 6) & 7] {
        let (r, w, x) = (perm & 4 != 0, perm & 2 != 0, perm & 1 != 0);
        // A more specific class has every bit of a less specific one.
        if (!r && had_r) || (!w && had_w) || (!x && had_x) {
            return false;
        }
        if x && had_r && !had_x {
            return false;
        }
        if (w || x) && !r {
            return false;
        }
        had_r |= r;
        had_w |= w;
        had_x |= x;
    }
    if !had_r {
        return false;
    }
    if dir {
        had_x && mode & 0o4000 == 0 && (mode & 0o3000 == 0 || had_w)
    } else {
        (mode & 0o6000 == 0 || (had_x && mode & 2 == 0)) && mode & 0o1000 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_modes() {
        assert_eq!(decimal_mode_to_octal(755), Some(0o755));
        assert_eq!(decimal_mode_to_octal(789), None);
        assert!(is_typical_mode(0o755, false));
        assert!(!is_typical_mode(755, false));
        assert!(is_typical_mode(0o1777, true));
        assert!(!is_typical_mode(0o1777, false));
        assert!(!is_typical_mode(0o640 | 0o001, false));
    }

    #[test]
    fn warns_like_butane() {
        assert_eq!(warnings(0o644, false), []);
        assert_eq!(warnings(755, false).len(), 2);
        assert_eq!(warnings(0o1777, true).len(), 1);
    }
}
