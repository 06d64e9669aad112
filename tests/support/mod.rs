//! Shared test helpers: throwaway keys, a local HTTP server, a fixture CDN.
pub mod fixture;
pub mod keys;
pub mod loopdev;
pub mod server;
