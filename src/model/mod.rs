//! The shared vocabulary, a leaf: it imports no other module of the crate
//! (except the `civil` date helper). Every stage and subsystem speaks it.

pub(crate) mod component;
pub(crate) mod content;
pub(crate) mod digest;
pub(crate) mod fat;
pub(crate) mod file_kind;
pub(crate) mod flatcar;
pub(crate) mod pe;
pub(crate) mod script;
pub(crate) mod stick;
pub(crate) mod url;

pub(crate) use digest::Sha256Digest;
pub(crate) use file_kind::file_kind;
pub(crate) use url::{BaseUrl, ConfigUrl, IpxeUrl};
