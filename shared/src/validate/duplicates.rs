//! Keys given twice in one JSON object. serde_json keeps the last one silently; a payments API
//! must not: a proxy or validator in front may have read the first (`{"amount":"1.00",
//! "amount":"100.00"}` means two things to two parsers), so a repeated key is an error.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{RawObject, shown_key};

/// The error for each key repeated in the object at `path` ("" for the body itself).
pub(crate) fn repeated_key_errors<'a>(path: &'a str, repeated: &'a [String]) -> impl Iterator<Item = String> + 'a {
    repeated.iter().map(move |key| match shown_key(key) {
        key if path.is_empty() => format!("{key}: must be given only once"),
        key => format!("{path}.{key}: must be given only once"),
    })
}

/// One JSON object, its values kept as raw text (the last of a repeated key's), with the keys
/// it repeats (each once, in order); None when `text` is not an object. One pass over the text.
pub(crate) fn parse_object(text: &[u8]) -> Option<(RawObject, Vec<String>)> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let parsed = deserializer.deserialize_map(ObjectWithRepeats).ok()?;
    deserializer.end().ok()?;
    Some(parsed)
}

/// Reads an object's fields, noting the keys it repeats.
struct ObjectWithRepeats;

impl<'de> Visitor<'de> for ObjectWithRepeats {
    type Value = (RawObject, Vec<String>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut object, mut repeated) = (RawObject::new(), Vec::new());
        while let Some(key) = map.next_key::<String>()? {
            let value: Box<RawValue> = map.next_value()?;
            if object.insert(key.clone(), value).is_some() && !repeated.contains(&key) {
                repeated.push(key);
            }
        }
        Ok((object, repeated))
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
