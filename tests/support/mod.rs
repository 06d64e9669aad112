//! Shared test helpers: the binary under test, the k3s hand pin, throwaway
//! keys, a local HTTP server, a fixture CDN, written sticks and mtools,
//! unwritable standard streams.

// Shared by several test crates: `pub` is how they reach it.
#![allow(unreachable_pub)]
pub mod bin;
pub mod fixture;
pub mod k3s_pin;
pub mod keys;
pub mod loopdev;
pub mod server;
pub mod stdio;
pub mod stick;
