//! mkstick: build a USB stick that boots diskless Flatcar nodes with iPXE.
//!
//! Data flow: `args + env + files → Plan → image bytes → Target → verify`.
//! Every user error is found while building the [`plan::Plan`], before any
//! target is opened for writing.

pub mod cli;
pub mod qemu;
