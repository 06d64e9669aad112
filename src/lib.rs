//! mkstick: build a USB stick that boots diskless Flatcar nodes with iPXE.
//!
//! Data flow, one way: `resolve` (all input I/O → a typed spec) → `plan`
//! (pure: every byte decided, every user error found) → `image` (extents) →
//! `target` (file or device) → `readback` (verify). `model` is the shared
//! vocabulary; `commands` orchestrate and print; `cli` is clap only.
//! `tests/architecture.rs` keeps the imports one-way.

pub mod cli;
pub mod commands;
pub mod distribution;
pub mod fetch;
pub mod ignite;
pub mod k3s;
pub mod mirror;

mod civil;
mod cluster;
mod image;
mod model;
mod plan;
mod qemu;
mod readback;
mod resolve;
mod secrets;
mod target;
