//! The k3s release of a stick that runs k3s, pinned now, on this machine:
//! a channel resolved to its tag, the hashes read from the release (or given
//! by hand), and with `--offline` the verified files from the mirror.

use std::path::Path;

use anyhow::Result;

use crate::fetch::{Fetcher, Progress, RetryPolicy};
use crate::k3s::pin::{ChannelServerUrl, ReleaseBaseUrl};
use crate::k3s::{self, K3sSource, Tag, VersionSpec};
use crate::model::Sha256Digest;
use crate::model::flatcar::Arch;
use crate::plan::spec::K3sSpec;

/// The k3s options of a write, typed.
#[derive(Clone, Debug, Default)]
pub struct K3sRequest {
    pub version: VersionSpec,
    /// `--k3s-sha256`: pinned by hand, no network.
    pub sha256: Option<Sha256Digest>,
    pub base_url: ReleaseBaseUrl,
    pub channel_url: ChannelServerUrl,
    /// `--k3s-airgap`: carry the airgap images too (with `--offline`).
    pub airgap: bool,
}

/// Pins the release for `arches`; `mirror` is the `--offline` mirror
/// directory, whose verified files the stick then carries.
pub(crate) fn pin(req: &K3sRequest, arches: &[Arch], mirror: Option<&Path>) -> Result<K3sSpec> {
    let source = source(req);
    match mirror {
        None => {
            let pin = match k3s::pin::by_hand(&source, arches)? {
                Some(pin) => pin,
                None => k3s::resolve(&source, arches, &Fetcher::new(Progress::stderr())?)?,
            };
            Ok(K3sSpec { pin, carried: None })
        }
        Some(dir) => {
            let (pin, release) = crate::mirror::k3s::pin_from_mirror(
                dir,
                &source,
                arches,
                req.airgap,
                Progress::stderr(),
                RetryPolicy::default(),
            )?;
            Ok(K3sSpec {
                pin,
                carried: Some(release),
            })
        }
    }
}

/// The tag `req` names: a channel asked of the channel server now, a tag
/// as given. For callers that pin several sticks to one release.
pub(crate) fn resolve_tag(req: &K3sRequest) -> Result<Tag> {
    k3s::pin::resolve_tag(&source(req), &Fetcher::new(Progress::stderr())?)
}

fn source(req: &K3sRequest) -> K3sSource {
    K3sSource {
        version: req.version.clone(),
        sha256: req.sha256,
        base_url: req.base_url.0.clone(),
        channel_url: req.channel_url.0.clone(),
    }
}
