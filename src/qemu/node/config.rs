//! Which Ignition config the harness serves at a stick's
//! `ignition.config.url=`: the user's `--ignition FILE` given to qemu-test
//! next to the URL stick (read as the writer would embed it), else the
//! shipped default node config. A stick that embeds its config gets nothing
//! served, and an `--ignition FILE` for such a TARGET is an error rather
//! than silently unused.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::world::World;
use crate::qemu::StickSource;
use crate::resolve::IgnitionRequest;

#[derive(Debug)]
pub(crate) enum Served {
    /// The stick embeds its config (oem.cpio): nothing is served.
    Nothing,
    /// The default node config built into mkstick.
    Default,
    /// The user's `--ignition FILE`, transpiled when it is YAML.
    File { path: PathBuf, config: Vec<u8> },
}

impl Served {
    pub(super) fn choose(world: &World, source: &StickSource) -> Result<Self> {
        let file = match &source.request.ignition {
            IgnitionRequest::File(path) => Some(path),
            IgnitionRequest::BuiltIn | IgnitionRequest::Url(_) => None,
        };
        let Some(url) = &world.ignition_url else {
            if let (Some(target), Some(path)) = (&source.target, file) {
                bail!(
                    "--ignition {}: {} embeds its Ignition config (its kernel command line has no \
                     ignition.config.url=), so qemu-test --node has no config to serve; leave out \
                     --ignition, or test a stick written with --ignition-url",
                    path.display(),
                    target.display()
                );
            }
            // Without a TARGET, --ignition FILE is what the built stick embeds.
            return Ok(Served::Nothing);
        };
        let Some(path) = file else {
            return Ok(Served::Default);
        };
        let config = crate::resolve::load_ignition(path).with_context(|| {
            format!(
                "--ignition {}: the config qemu-test --node serves at the stick's \
                 ignition.config.url {url}; give an existing Ignition config (.ign/.json, or \
                 Butane/Container Linux Config .yml), or leave out --ignition to serve the \
                 shipped node config",
                path.display()
            )
        })?;
        Ok(Served::File {
            path: path.clone(),
            config,
        })
    }

    /// The bytes served at the stick's URL.
    pub(super) fn bytes(&self) -> Option<Arc<[u8]>> {
        match self {
            Served::Nothing => None,
            Served::Default => Some(Arc::from(crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes())),
            Served::File { config, .. } => Some(Arc::from(config.as_slice())),
        }
    }

    /// Which config, in words.
    pub(super) fn describe(&self) -> Option<String> {
        match self {
            Served::Nothing => None,
            Served::Default => Some("the shipped node config (ignition/ignition.ign)".into()),
            Served::File { path, .. } => Some(format!("--ignition {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::node::world::RawUrl;
    use crate::resolve::Request;

    fn source(target: Option<&str>, ignition: IgnitionRequest) -> StickSource {
        StickSource {
            target: target.map(PathBuf::from),
            image: None,
            request: Request {
                ignition,
                ..Request::default()
            },
        }
    }

    fn url_world() -> World {
        World {
            ignition_url: Some(RawUrl::parse("https://cfg.example.com/n/node.ign?x=1").unwrap()),
            ..World::default()
        }
    }

    #[test]
    fn a_url_stick_gets_the_given_file_or_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let ign = dir.path().join("node.ign");
        std::fs::write(&ign, r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
        let given = Served::choose(
            &url_world(),
            &source(Some("stick.img"), IgnitionRequest::File(ign.clone())),
        )
        .unwrap();
        assert_eq!(
            given.bytes().as_deref(),
            Some(&br#"{"ignition":{"version":"3.3.0"}}"#[..])
        );
        let default =
            Served::choose(&url_world(), &source(None, IgnitionRequest::BuiltIn)).unwrap();
        assert_eq!(
            default.bytes().as_deref(),
            Some(crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes())
        );
        let embedded = Served::choose(&World::default(), &source(None, IgnitionRequest::File(ign)));
        assert!(embedded.unwrap().bytes().is_none());
    }

    #[test]
    fn a_missing_or_unusable_config_is_a_clear_error() {
        let missing = Served::choose(
            &url_world(),
            &source(
                Some("stick.img"),
                IgnitionRequest::File("/nonexistent/node.ign".into()),
            ),
        )
        .unwrap_err();
        let text = format!("{missing:#}");
        assert!(
            text.contains("--ignition /nonexistent/node.ign")
                && text.contains("https://cfg.example.com/n/node.ign?x=1")
                && text.contains("leave out --ignition"),
            "{text}"
        );
        let embedded = Served::choose(
            &World::default(),
            &source(Some("stick.img"), IgnitionRequest::File("node.ign".into())),
        )
        .unwrap_err();
        assert!(
            embedded
                .to_string()
                .contains("stick.img embeds its Ignition config"),
            "{embedded}"
        );
    }
}
