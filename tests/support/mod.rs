//! Shared test helpers: throwaway keys, a local HTTP server, a fixture CDN.

// Shared by several test crates: `pub` is how they reach it.
#![allow(unreachable_pub)]
pub mod fixture;
pub mod keys;
pub mod loopdev;
pub mod server;
