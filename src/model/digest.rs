//! SHA-2 digests as values: parsed from hex once, compared as bytes, printed as hex.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

macro_rules! digest_type {
    ($name:ident, $hasher:ty, $len:literal, $label:literal) => {
        #[doc = concat!("A ", $label, " digest.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Digest of `data` in one call (small inputs; stream large ones through a hasher).
            pub fn of(data: &[u8]) -> Self {
                Self(<$hasher>::digest(data).into())
            }

            /// The raw digest bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Builds a digest from raw bytes; `None` when the length is wrong.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }
        }

        impl From<$hasher> for $name {
            fn from(hasher: $hasher) -> Self {
                Self(hasher.finalize().into())
            }
        }

        impl FromStr for $name {
            type Err = anyhow::Error;

            fn from_str(s: &str) -> anyhow::Result<Self> {
                let s = s.trim();
                if s.len() != $len * 2 {
                    bail!(
                        concat!("a ", $label, " digest has {} hex digits, got {} in {:?}"),
                        $len * 2,
                        s.len(),
                        s
                    );
                }
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).with_context(|| {
                    format!(concat!("{:?} is not a hex ", $label, " digest"), s)
                })?;
                Ok(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "({})"), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse()
                    .map_err(|e: anyhow::Error| serde::de::Error::custom(format!("{e:#}")))
            }
        }
    };
}

digest_type!(Sha256Digest, sha2::Sha256, 32, "SHA-256");
digest_type!(Sha512Digest, sha2::Sha512, 64, "SHA-512");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_hex_and_json() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_string().parse::<Sha256Digest>().unwrap(), d);
        assert_eq!(
            d.to_string()
                .to_uppercase()
                .parse::<Sha256Digest>()
                .unwrap(),
            d
        );
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Sha256Digest>(&json).unwrap(), d);
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        let err = "abcd".parse::<Sha256Digest>().unwrap_err();
        assert!(
            format!("{err:#}").contains("64 hex digits, got 4"),
            "{err:#}"
        );
        let err = "zz".repeat(32).parse::<Sha256Digest>().unwrap_err();
        assert!(format!("{err:#}").contains("not a hex SHA-256"), "{err:#}");
        assert!("00".repeat(32).parse::<Sha512Digest>().is_err());
    }
}
