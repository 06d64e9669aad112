//! k3s on the stick: the release is pinned when the stick is written.
//!
//! A tag, or a channel resolved to a tag through k3s's channel server
//! ([`channel`]); per architecture the binary's SHA-256 read from the
//! release's `sha256sum-<arch>.txt` ([`sums`]) through mkstick's downloader,
//! or given by hand; the result ([`K3sPin`]) goes onto the SECRETS volume as
//! `k3s_release` ([`release_file`]), where the node's install unit reads it.

pub mod channel;
pub mod pin;
pub mod release;
pub mod release_file;
pub mod sums;

pub use channel::DEFAULT_CHANNEL_URL;
pub use pin::{DEFAULT_BASE_URL, K3sPin, K3sSource, PinnedBinary, resolve};
pub use release::{Channel, Tag, VersionSpec};
pub use release_file::{OnEsp, ReleaseFile};
