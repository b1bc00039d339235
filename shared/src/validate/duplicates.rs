//! Keys given twice in one JSON object. serde_json keeps the last one silently; a payments API
//! must not: a proxy or validator in front may have read the first (`{"amount":"1.00",
//! "amount":"100.00"}` means two things to two parsers), so a repeated key is an error.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::RawObject;

/// What a repeated key is told.
pub(crate) const REPEATED: &str = "must be given only once";

/// One JSON object, its values kept as raw text, with the keys it repeats (each once, in
/// order); None when `text` is not an object.
pub(crate) fn parse_object(text: &[u8]) -> Option<(RawObject, Vec<String>)> {
    let object = serde_json::from_slice::<RawObject>(text).ok()?;
    let repeated = serde_json::Deserializer::from_slice(text).deserialize_map(RepeatedKeys).unwrap_or_default();
    Some((object, repeated))
}

/// Collects the keys an object repeats, skipping its values.
struct RepeatedKeys;

impl<'de> Visitor<'de> for RepeatedKeys {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let (mut seen, mut repeated) = (HashSet::new(), Vec::new());
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if seen.contains(&key) {
                if !repeated.contains(&key) {
                    repeated.push(key);
                }
            } else {
                seen.insert(key);
            }
        }
        Ok(repeated)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_object;

    #[test]
    fn an_object_reports_the_keys_it_repeats_once_each() {
        let (object, repeated) =
            parse_object(br#"{"amount":"1.00","a b":1,"amount":"100.00","a b":2,"amount":"3"}"#).unwrap();
        assert_eq!(repeated, vec!["amount", "a b"]);
        assert_eq!(object["amount"].get(), r#""3""#, "serde_json alone would have kept the last");
    }

    #[test]
    fn nested_objects_are_their_own_and_non_objects_are_none() {
        let (_, repeated) = parse_object(br#"{"a":{"b":1,"b":2},"b":[{"a":1},{"a":2}]}"#).unwrap();
        assert!(repeated.is_empty(), "{repeated:?}");
        assert!(parse_object(b"[1,2]").is_none());
        assert!(parse_object(b"not json").is_none());
    }
}
