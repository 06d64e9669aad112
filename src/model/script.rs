//! What may stand on a line of the iPXE boot script as a value.

use anyhow::{Result, ensure};

/// Refuses characters iPXE would interpret (`${...}` expansion, quotes, spaces
/// that split arguments) and control characters (NUL ends a line early, ESC
/// drives the console) in a value placed on a script line.
pub(crate) fn check_script_safe(what: &str, value: &str) -> Result<()> {
    ensure!(
        !value.contains(char::is_control),
        "{what} contains a control character (such as NUL, a newline or ESC), which cannot go into the boot script"
    );
    ensure!(
        !value.contains(['$', '"', '\'', '\\']) && !value.contains(char::is_whitespace),
        "{what} may not contain spaces, quotes, backslashes or '$' (iPXE would interpret them)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_ipxe_syntax_are_refused() {
        check_script_safe("--x", "https://h/a-b_c~d%2B").unwrap();
        for bad in ["a\u{0}b", "a\nb", "a\u{1b}[2J", "a\u{7f}", "a\u{85}"] {
            let err = check_script_safe("--x", bad).unwrap_err().to_string();
            assert!(err.contains("--x contains a control character"), "{err}");
        }
        for bad in ["a b", "a${x}", "a\"b", "a'b", "a\\b", "a\u{a0}b"] {
            let err = check_script_safe("--x", bad).unwrap_err().to_string();
            assert!(err.contains("may not contain spaces"), "{bad:?}: {err}");
        }
    }
}
