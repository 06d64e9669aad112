//! Plan → image: the bytes of a whole stick, as sparse extents.

pub mod extent;
pub mod fat;
