//! Event payloads and command replies, which Aether stores as MessagePack, shown as JSON.
//!
//! Any MessagePack value becomes JSON: binary strings become lowercase hex strings, map
//! keys that are not strings become their JSON text, extension values become
//! `[type, "hex"]`, and floats that JSON cannot hold (NaN, infinities) become `null`.
//! Bytes that are not one whole MessagePack value are kept as hex with the reason.

use std::fmt;
use std::io::Cursor;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A payload as shown: its JSON form, or its bytes in hex when they are not MessagePack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    /// The payload decoded (`null` for an empty payload).
    Json(Value),
    /// Bytes that are not one whole MessagePack value, and why.
    Undecodable {
        /// The bytes, lowercase hex.
        hex: String,
        /// What the decoder said.
        reason: String,
    },
}

impl Payload {
    /// Decodes `bytes` as one MessagePack value.
    pub(crate) fn decode(bytes: &[u8]) -> Payload {
        if bytes.is_empty() {
            return Payload::Json(Value::Null);
        }
        let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
        let undecodable = |reason: String| Payload::Undecodable {
            hex: hex::encode(bytes),
            reason,
        };
        match Json::deserialize(&mut de) {
            Ok(Json(value)) => {
                let read = usize::try_from(de.position()).unwrap_or(usize::MAX);
                if read == bytes.len() {
                    Payload::Json(value)
                } else {
                    undecodable(format!(
                        "{} bytes left over after a MessagePack value of {read} bytes",
                        bytes.len().saturating_sub(read)
                    ))
                }
            }
            Err(e) => undecodable(e.to_string()),
        }
    }

    /// The payload in one line for a table: compact JSON, or `hex:…` and a note, cut to
    /// about `max` characters.
    pub(crate) fn cell(&self, max: usize) -> String {
        let text = match self {
            Payload::Json(v) => v.to_string(),
            Payload::Undecodable { hex, .. } => format!("hex:{hex} (not MessagePack)"),
        };
        shorten(text, max)
    }

    /// Adds the payload to a JSON object under `key`; an undecodable one is `null` there,
    /// with `<key>_hex` and `<key>_error` beside it.
    pub(crate) fn insert_into(&self, object: &mut Map<String, Value>, key: &str) {
        match self {
            Payload::Json(v) => {
                object.insert(key.to_owned(), v.clone());
            }
            Payload::Undecodable { hex, reason } => {
                object.insert(key.to_owned(), Value::Null);
                object.insert(format!("{key}_hex"), Value::String(hex.clone()));
                object.insert(
                    format!("{key}_error"),
                    Value::String(format!("not MessagePack: {reason}")),
                );
            }
        }
    }
}

/// `text` cut to `max` characters, ending in `…` when cut.
pub(crate) fn shorten(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A JSON value read from any self-describing serde format (here MessagePack).
struct Json(Value);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a MessagePack value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json(Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json(Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json(Value::String(v)))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Json, E> {
        Ok(Json(Value::String(hex::encode(v))))
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json(Value::Null))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        // MessagePack extension values come this way, as `(type, bytes)`.
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Json(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut object = Map::new();
        while let Some((Json(k), Json(v))) = map.next_entry()? {
            let key = match k {
                Value::String(s) => s,
                other => other.to_string(),
            };
            object.insert(key, v);
        }
        Ok(Json(Value::Object(object)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    fn named<T: Serialize>(value: &T) -> Vec<u8> {
        rmp_serde::to_vec_named(value).expect("encodes")
    }

    #[test]
    fn structs_with_field_names_become_objects() {
        #[derive(Serialize)]
        struct Deposited {
            amount: u64,
            memo: Option<String>,
            tags: Vec<&'static str>,
        }
        let bytes = named(&Deposited {
            amount: 5,
            memo: None,
            tags: vec!["a", "b"],
        });
        assert_eq!(
            Payload::decode(&bytes),
            Payload::Json(json!({"amount": 5, "memo": null, "tags": ["a", "b"]}))
        );
    }

    #[test]
    fn binary_becomes_hex_and_other_keys_their_json_text() {
        // { 7: bin [de ad], "f": NaN }
        let mut bytes = vec![0x82, 0x07, 0xc4, 0x02, 0xde, 0xad, 0xa1, b'f', 0xcb];
        bytes.extend_from_slice(&f64::NAN.to_be_bytes());
        assert_eq!(
            Payload::decode(&bytes),
            Payload::Json(json!({"7": "dead", "f": null}))
        );
    }

    #[test]
    fn bytes_that_are_not_messagepack_are_kept_as_hex_with_the_reason() {
        // 0xc1 is the one byte MessagePack never uses.
        let p = Payload::decode(&[0xc1, 0x01]);
        let Payload::Undecodable { hex, reason } = &p else {
            panic!("{p:?}");
        };
        assert_eq!(hex, "c101");
        assert!(!reason.is_empty());
        assert_eq!(p.cell(100), "hex:c101 (not MessagePack)");
        // A whole value followed by more bytes is not one value either.
        let p = Payload::decode(&[0x01, 0x02]);
        assert!(
            matches!(&p, Payload::Undecodable { reason, .. } if reason.contains("1 bytes left over")),
            "{p:?}"
        );
        // A truncated value.
        assert!(matches!(
            Payload::decode(&[0x92, 0x01]),
            Payload::Undecodable { .. }
        ));
    }

    #[test]
    fn an_empty_payload_is_null_and_long_cells_are_cut() {
        assert_eq!(Payload::decode(&[]), Payload::Json(Value::Null));
        let long = Payload::Json(json!("x".repeat(50)));
        let cell = long.cell(10);
        assert_eq!(cell.chars().count(), 10);
        assert!(cell.ends_with('…'));
    }

    #[test]
    fn json_objects_get_the_payload_or_its_hex_and_error() {
        let mut o = Map::new();
        Payload::decode(&[0x2a]).insert_into(&mut o, "data");
        Payload::decode(&[0xc1]).insert_into(&mut o, "reply");
        assert_eq!(o["data"], json!(42));
        assert_eq!(o["reply"], Value::Null);
        assert_eq!(o["reply_hex"], json!("c1"));
        assert!(o["reply_error"]
            .as_str()
            .unwrap()
            .starts_with("not MessagePack"));
    }
}
