//! JSON parsing that refuses duplicate object keys.
//!
//! `serde_json` keeps the last of two equal keys silently; a host whose parser keeps the first
//! would then disagree with the connector about what runs (`{"operation":"list_buckets",
//! "operation":"delete_bucket"}`). Requests are parsed with this instead.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One hash per key: the vacant entry found is where the value goes.
            match out.entry(key) {
                Entry::Occupied(o) => {
                    let key = o.key();
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                Entry::Vacant(slot) => {
                    let Strict(v) = map.next_value()?;
                    slot.insert(v);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Parses one JSON document; duplicate keys at any depth are an error.
pub(crate) fn parse(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let Strict(v) = Strict::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(super::parse(r#"{"a":1,"b":[{"c":2}]}"#).is_ok());
        let e = super::parse(r#"{"operation":"x","operation":"y"}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate field `operation`"), "{e}");
        assert!(super::parse(r#"{"input":{"Bucket":"a","Bucket":"b"}}"#).is_err());
        assert!(super::parse(r#"{"a":1} x"#).is_err());
        assert_eq!(super::parse("1e3").unwrap(), serde_json::json!(1000.0));
    }
}
