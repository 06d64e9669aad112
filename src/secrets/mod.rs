//! Secret inputs (flags, an env file, the environment) → validated contents of
//! the secrets volume. Values are never printed: [`Secret`]'s `Debug` redacts.

pub(crate) mod envfile;
pub(crate) mod format;
pub(crate) mod schema;
pub(crate) mod sniff;

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, bail};

use crate::model::component::ComponentId;
use schema::{Component, schema};

/// A value that must not appear in logs, errors, `--dry-run` or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself: call only where it is written to the secrets volume.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where a value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag(String),
    File { path: String, line: usize },
    Environment,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
            Origin::Environment => f.write_str("the environment"),
        }
    }
}

/// One raw input: a key, its value, and where it came from.
#[derive(Clone, Debug)]
pub struct Input {
    pub key: String,
    pub value: Secret,
    pub origin: Origin,
}

/// Raw inputs by precedence: flags override the `--secrets` file, which
/// overrides the environment (so a stray exported variable never wins over
/// what the user wrote down).
#[derive(Debug, Default)]
pub struct Inputs {
    pub flags: Vec<Input>,
    pub file: Vec<Input>,
    pub env: Vec<Input>,
}

impl Inputs {
    /// Takes every variable of the environment that some component owns.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Input> {
        vars.into_iter()
            .filter(|(k, _)| schema().components.iter().any(|c| c.owns(k)))
            .map(|(key, value)| Input {
                key,
                value: Secret::new(value),
                origin: Origin::Environment,
            })
            .collect()
    }

    fn merged(&self) -> BTreeMap<String, Input> {
        let mut out = BTreeMap::new();
        for input in self.env.iter().chain(&self.file).chain(&self.flags) {
            out.insert(input.key.clone(), input.clone());
        }
        out
    }
}

/// An unknown key's name as it may be printed: only when it reads like a
/// setting of a known component (same `PREFIX_`, upper-case snake case).
/// Anything else may be a piece of a wrapped value, so it is not shown.
fn shown_key(key: &str) -> String {
    let plausible = key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && key.split_once('_').is_some_and(|(prefix, _)| {
            schema().components.iter().any(|c| {
                c.keys
                    .iter()
                    .any(|k| k.name.split_once('_').is_some_and(|(p, _)| p == prefix))
            })
        });
    if plausible {
        key.to_string()
    } else {
        "a key (name not shown: it does not look like a mkstick key and may be part of a value)"
            .to_string()
    }
}

/// A component that is on, with its validated values in schema order.
#[derive(Clone, Debug)]
pub struct Enabled {
    pub component: &'static Component,
    pub values: Vec<(String, Secret)>,
}

/// The validated secrets volume: every component either on or off.
#[derive(Clone, Debug)]
pub struct SecretsVolume {
    pub enabled: Vec<Enabled>,
    pub disabled: Vec<&'static Component>,
    /// Files beside the env files, by path with `/` for directories: a
    /// cluster server's CAs (`k3s-tls/server-ca.key`), a node's k3s config.
    pub extra: Vec<(String, Secret)>,
}

impl SecretsVolume {
    /// Validates inputs against the schema. A component with none of its keys is
    /// off (the caller warns); one with some but not all required keys is an error.
    /// All problems are reported at once.
    pub fn from_inputs(inputs: &Inputs) -> Result<Self> {
        let merged = inputs.merged();
        let mut problems = Vec::new();
        for (key, input) in &merged {
            if !schema().components.iter().any(|c| c.owns(key)) {
                problems.push(format!(
                    "{} (from {}) is not a key mkstick knows; see `mkstick --help`",
                    shown_key(key),
                    input.origin
                ));
            }
        }
        let mut enabled = Vec::new();
        let mut disabled = Vec::new();
        for c in &schema().components {
            let mine: Vec<&Input> = merged.values().filter(|i| c.owns(&i.key)).collect();
            if mine.is_empty() {
                disabled.push(c);
                continue;
            }
            for k in c.keys.iter().filter(|k| k.required) {
                if !merged.contains_key(&k.name) {
                    let given: Vec<&str> = mine.iter().map(|i| i.key.as_str()).collect();
                    problems.push(format!(
                        "{} is on ({} given) but {} is missing: set it, or remove {} to turn {} off",
                        c.name,
                        given.join(", "),
                        k.name,
                        given.join(", "),
                        c.name
                    ));
                }
            }
            let mut values = Vec::new();
            for input in &mine {
                let format = match (c.key(&input.key), &c.extra_keys) {
                    (Some(k), _) => k.format,
                    (None, Some(x)) => x.format,
                    (None, None) => unreachable!("owns() matched"),
                };
                if let Err(e) = format.check(input.value.expose()) {
                    problems.push(format!("{} (from {}) {e:#}", input.key, input.origin));
                }
                values.push((input.key.clone(), input.value.clone()));
            }
            // Schema keys first, in schema order; pattern keys after, by name.
            values.sort_by_key(|(k, _)| {
                (
                    c.keys
                        .iter()
                        .position(|s| &s.name == k)
                        .unwrap_or(usize::MAX),
                    k.clone(),
                )
            });
            enabled.push(Enabled {
                component: c,
                values,
            });
        }
        if !problems.is_empty() {
            bail!("invalid secrets:\n  - {}", problems.join("\n  - "));
        }
        Ok(SecretsVolume {
            enabled,
            disabled,
            extra: Vec::new(),
        })
    }

    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.enabled
            .iter()
            .flat_map(|e| &e.values)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub(crate) fn is_enabled(&self, component: ComponentId) -> bool {
        self.enabled
            .iter()
            .any(|e| e.component.name == component.as_str())
    }

    /// Every file of the volume with its contents; disabled components get an
    /// empty file (the node's units check `ConditionFileNotEmpty`).
    pub fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        schema()
            .components
            .iter()
            .map(|c| {
                let body = self
                    .enabled
                    .iter()
                    .find(|e| std::ptr::eq(e.component, c))
                    .map(|e| envfile::render(&e.values))
                    .unwrap_or_default();
                (c.file.as_str(), body.into_bytes())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(key: &str, value: &str, origin: Origin) -> Input {
        Input {
            key: key.into(),
            value: Secret::new(value),
            origin,
        }
    }

    #[test]
    fn debug_redacts() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let v = SecretsVolume::from_inputs(&Inputs {
            flags: vec![input(
                "HEARTBEAT_URL",
                "https://hc-ping.com/hunter2",
                Origin::Flag("--heartbeat-url".into()),
            )],
            ..Default::default()
        })
        .unwrap();
        assert!(!format!("{v:?}").contains("hunter2"));
        let file = crate::plan::PlannedFile::new("heartbeat_env", v.files()[2].1.clone());
        assert!(!format!("{file:?}").contains("hunter2"), "{file:?}");
    }

    #[test]
    fn components_turn_on_and_off() {
        let v = SecretsVolume::from_inputs(&Inputs {
            env: vec![
                input("LOGEXPORT_HOST", "logs.example.com", Origin::Environment),
                input("LOGEXPORT_PORT", "1234", Origin::Environment),
            ],
            ..Default::default()
        })
        .unwrap();
        assert!(v.enabled.iter().any(|e| e.component.name == "logexport"));
        assert!(!v.is_enabled(ComponentId::K3s));
        assert_eq!(v.disabled.len(), 3);
        let files = v.files();
        assert_eq!(
            files[1],
            (
                "logexport_env",
                b"LOGEXPORT_HOST=\"logs.example.com\"\nLOGEXPORT_PORT=\"1234\"\n".to_vec()
            )
        );
        assert!(files[0].1.is_empty());
    }

    #[test]
    fn partial_component_is_an_error_naming_the_missing_key() {
        let err = SecretsVolume::from_inputs(&Inputs {
            env: vec![input(
                "LOGEXPORT_HOST",
                "logs.example.com",
                Origin::Environment,
            )],
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("LOGEXPORT_PORT is missing"),
            "{err:#}"
        );
    }

    #[test]
    fn precedence_flag_over_file_over_env() {
        let v = SecretsVolume::from_inputs(&Inputs {
            env: vec![input("K3S_TOKEN", "env", Origin::Environment)],
            file: vec![input(
                "K3S_TOKEN",
                "file",
                Origin::File {
                    path: "s.env".into(),
                    line: 1,
                },
            )],
            flags: vec![input("K3S_TOKEN", "flag", Origin::Flag("--k3s".into()))],
        })
        .unwrap();
        assert_eq!(v.get("K3S_TOKEN").unwrap().expose(), "flag");
    }

    #[test]
    fn all_problems_are_reported_with_their_origin() {
        let err = SecretsVolume::from_inputs(&Inputs {
            file: vec![
                input(
                    "LOGEXPORT_HOST",
                    "bad_host",
                    Origin::File {
                        path: "s.env".into(),
                        line: 3,
                    },
                ),
                input(
                    "LOGEXPORT_PORT",
                    "99999",
                    Origin::File {
                        path: "s.env".into(),
                        line: 4,
                    },
                ),
                input(
                    "HEARTBEAT_URL",
                    "ftp://x",
                    Origin::File {
                        path: "s.env".into(),
                        line: 5,
                    },
                ),
            ],
            ..Default::default()
        })
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("LOGEXPORT_HOST (from s.env:3)"), "{msg}");
        assert!(msg.contains("LOGEXPORT_PORT (from s.env:4)"), "{msg}");
        assert!(msg.contains("HEARTBEAT_URL (from s.env:5)"), "{msg}");
        assert!(!msg.contains("ftp://x"), "{msg}");
    }
}
