//! mkstick: build a USB stick that boots diskless Flatcar nodes with iPXE.
//!
//! Data flow: `args + env + files → Plan → image bytes → Target → verify`.
//! Every user error is found while building the [`plan::Plan`], before any
//! target is opened for writing.

pub mod assets;
pub mod bootscript;
mod civil;
pub mod cli;
pub mod cpio;
pub mod fetch;
pub mod ignite;
pub mod image;
pub mod inspect;
pub mod k3s;
pub mod manifest;
pub mod mirror;
pub mod plan;
pub mod qemu;
pub mod secrets;
pub mod sshkey;
pub mod target;
pub mod verify;
pub mod write;
