//! The input dialects, with what differs between their versions.

/// The input dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Container Linux Config (ct).
    Clc,
    /// Butane `variant: flatcar`, `version: 1.<minor>.0`.
    Butane { minor: u8 },
}

impl Dialect {
    /// The Butane minor version (0 for a CLC, which has no versions).
    pub fn minor(self) -> u8 {
        match self {
            Dialect::Butane { minor } => minor,
            Dialect::Clc => 0,
        }
    }
}
