//! The shared vocabulary, a leaf: it imports no other module of the crate
//! (except the `civil` date helper). Every stage and subsystem speaks it.

pub mod content;
pub mod digest;
pub mod fat;
pub mod flatcar;
pub mod stick;

pub use digest::Sha256Digest;
