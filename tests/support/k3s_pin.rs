//! The k3s release the tests pin by hand. A stick with k3s settings needs a
//! pinned release; without `--k3s-sha256` mkstick would read the release's
//! checksums over the network, which tests never use.
#![allow(dead_code)]

/// The release tag pinned by hand.
pub const VERSION: &str = "v1.31.4+k3s1";
/// The sha256 of that release's amd64 `k3s` binary.
pub const SHA256: &str = "86bd33ebf64e01aaafb7dab419436ac025d04abd933bbbb124ddb25c30b59dd7";
/// The writer's options for the hand pin.
pub const ARGS: &[&str] = &["--k3s-version", VERSION, "--k3s-sha256", SHA256];

/// The hand pin's options for the binary under test: [`ARGS`], except for
/// another build (`MKSTICK_UNDER_TEST`) that predates `--k3s-sha256`. Such
/// a build never fetched k3s, so it needs no pin to stay off the network,
/// and the same hostile input reaches it instead of a usage error.
pub fn args() -> &'static [&'static str] {
    if super::bin::is_other_build() && !super::bin::knows_flag("--k3s-sha256") {
        &[]
    } else {
        ARGS
    }
}
