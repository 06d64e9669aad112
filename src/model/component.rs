//! The node's components that the writer's own rules depend on, as the
//! secrets schema (`secrets-schema/keys.json`) names them: code branches on
//! these ids, never on the names as strings.

/// A component of the node that the secrets volume switches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ComponentId {
    K3s,
    NamecheapDdns,
}

impl ComponentId {
    /// The component's name in the schema.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ComponentId::K3s => "k3s",
            ComponentId::NamecheapDdns => "namecheap-ddns",
        }
    }
}
