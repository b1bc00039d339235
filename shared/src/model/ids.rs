//! Ids written as `<prefix><ULID>`: 80 random bits, so they can't be guessed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// Defines an id type written as `<prefix><ULID>`: 80 random bits, so ids can't be guessed.
macro_rules! prefixed_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, Ulid::new()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(format!("{}{}", $prefix, ulid))
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            /// Accepts only `<prefix><26 Crockford base32 chars>`, so a path segment is
            /// checked before it reaches the store.
            fn from_str(text: &str) -> Result<Self, InvalidId> {
                let ulid = text.strip_prefix($prefix).ok_or(InvalidId)?;
                Ulid::from_string(ulid).map_err(|_| InvalidId)?;
                Ok(Self(text.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(text: String) -> Result<Self, InvalidId> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(LinkId, "pl_");
prefixed_id!(SessionId, "cs_");
prefixed_id!(EventId, "evt_");
prefixed_id!(WebhookEndpointId, "we_");

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_reject_anything_else() {
        let id = LinkId::generate();
        assert!(id.as_str().starts_with("pl_"));
        assert_eq!(id.as_str().len(), 3 + 26);
        assert_eq!(id.as_str().parse::<LinkId>(), Ok(id.clone()));
        assert!(id.as_str().parse::<SessionId>().is_err());
        for bad in ["", "pl_", "pl_123", "cs_01ARZ3NDEKTSV4RRFFQ69G5FAV", "pl_01ARZ3NDEKTSV4RRFFQ69G5FA/", "../etc"] {
            assert!(bad.parse::<LinkId>().is_err(), "{bad}");
        }
    }
}
