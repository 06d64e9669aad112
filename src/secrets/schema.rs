//! The secrets schema (`secrets-schema/keys.json`), built into the binary.
//!
//! One file drives validation, the `--help` and README tables and the exported
//! JSON Schema, so they cannot drift apart.

use std::sync::OnceLock;

use serde::Deserialize;

use super::format::Format;

#[derive(Debug, Deserialize)]
pub(crate) struct Schema {
    pub about: String,
    pub components: Vec<Component>,
}

#[derive(Debug, Deserialize)]
pub struct Component {
    pub name: String,
    /// File name on the secrets volume.
    pub file: String,
    pub description: String,
    pub keys: Vec<Key>,
    /// Further keys accepted by name pattern (k3s takes any `K3S_*`).
    #[serde(default)]
    pub extra_keys: Option<ExtraKeys>,
}

#[derive(Debug, Deserialize)]
pub struct Key {
    pub name: String,
    pub required: bool,
    pub format: Format,
    pub secret: bool,
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct ExtraKeys {
    /// `^PREFIX[A-Z0-9_]+$`: the only pattern shape the schema uses.
    pub pattern: String,
    pub format: Format,
    pub secret: bool,
}

impl ExtraKeys {
    fn prefix(&self) -> &str {
        self.pattern
            .trim_start_matches('^')
            .trim_end_matches("[A-Z0-9_]+$")
    }

    pub fn matches(&self, name: &str) -> bool {
        name.strip_prefix(self.prefix()).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
    }
}

impl Component {
    /// The component a key belongs to, by exact name or by pattern.
    pub fn owns(&self, name: &str) -> bool {
        self.keys.iter().any(|k| k.name == name)
            || self.extra_keys.as_ref().is_some_and(|x| x.matches(name))
    }

    pub fn key(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.name == name)
    }
}

pub(crate) const SOURCE: &str = include_str!("../../secrets-schema/keys.json");

pub(crate) fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(SOURCE).expect("secrets-schema/keys.json is checked by a unit test")
    })
}

/// The schema as JSON Schema (draft 2020-12): one object per env file.
pub(crate) fn json_schema() -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let s = schema();
    let mut files = Map::new();
    for c in &s.components {
        let mut props = Map::new();
        for k in &c.keys {
            let mut p = k.format.json_schema();
            p["description"] = json!(k.description);
            p["x-secret"] = json!(k.secret);
            props.insert(k.name.clone(), p);
        }
        let required: Vec<&str> = c
            .keys
            .iter()
            .filter(|k| k.required)
            .map(|k| k.name.as_str())
            .collect();
        let mut obj = json!({
            "type": "object",
            "description": c.description,
            "x-component": c.name,
            "properties": props,
            "additionalProperties": false,
        });
        if let Some(x) = &c.extra_keys {
            let mut p = x.format.json_schema();
            p["x-secret"] = json!(x.secret);
            obj["patternProperties"] = json!({ &x.pattern: p });
        }
        // An empty file disables the component; a non-empty one needs its required keys.
        obj["anyOf"] = json!([{ "maxProperties": 0 }, { "required": required }]);
        files.insert(c.file.clone(), obj);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mkstick.invalid/secrets.schema.json",
        "title": "mkstick secrets volume",
        "description": s.about,
        "type": "object",
        "properties": Value::Object(files),
        "additionalProperties": false,
    })
}

/// The Markdown table of every key, for the README.
pub(crate) fn markdown_table() -> String {
    let mut out = String::from(
        "| file | key | required | format | secret | meaning |\n|---|---|---|---|---|---|\n",
    );
    for c in &schema().components {
        for k in &c.keys {
            out += &format!(
                "| `{}` | `{}` | {} | {} | {} | {} |\n",
                c.file,
                k.name,
                if k.required { "yes" } else { "no" },
                k.format.describe(),
                if k.secret { "yes" } else { "no" },
                k.description
            );
        }
        if let Some(x) = &c.extra_keys {
            out += &format!(
                "| `{}` | `{}` | no | {} | {} | passed through to the component |\n",
                c.file,
                x.pattern.trim_start_matches('^').trim_end_matches('$'),
                x.format.describe(),
                if x.secret { "yes" } else { "no" }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_name_schema_components() {
        use crate::model::component::ComponentId;
        for id in [ComponentId::K3s, ComponentId::NamecheapDdns] {
            assert!(
                schema().components.iter().any(|c| c.name == id.as_str()),
                "{id:?} is not in secrets-schema/keys.json"
            );
        }
    }

    #[test]
    fn schema_parses_and_names_are_unique() {
        let s = schema();
        let mut names: Vec<&str> = s
            .components
            .iter()
            .flat_map(|c| c.keys.iter().map(|k| k.name.as_str()))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(s.components.len(), 4);
    }

    #[test]
    fn extra_keys_match_by_prefix() {
        let k3s = &schema().components[0];
        assert!(k3s.owns("K3S_TOKEN"));
        assert!(k3s.owns("K3S_NODE_LABEL_2"));
        assert!(!k3s.owns("K3S_"));
        assert!(!k3s.owns("K3S_lower"));
        assert!(!k3s.owns("LOGEXPORT_HOST"));
    }

    #[test]
    fn exported_json_schema_is_up_to_date() {
        let want = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/secrets-schema/secrets.schema.json"
        );
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "{path} is out of date: run `mkstick secrets-schema > {path}`"
        );
    }

    #[test]
    fn readme_table_is_up_to_date() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        assert!(
            readme.contains(&markdown_table()),
            "README.md's secrets table is out of date: paste `mkstick secrets-schema --markdown`"
        );
    }
}
