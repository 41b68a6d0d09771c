//! JSON <-> BSON for the provider's documents. Written out rather than through extended JSON so
//! that a provider field which happens to look like `{"$date": ...}` stays what it was, and so that
//! integers come back as the same JSON integers the embedded store returns.

use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};

pub(super) fn json_to_bson(value: &Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        // Small integers as Int32, as the other drivers (and the shell) write them.
        Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            // Beyond i64 (u64 above i64::MAX) or a fraction: BSON's only other number is a double.
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(json_to_bson).collect()),
        Value::Object(map) => Bson::Document(object_to_document(map)),
    }
}

pub(super) fn object_to_document(map: &Map<String, Value>) -> Document {
    map.iter().map(|(k, v)| (k.clone(), json_to_bson(v))).collect()
}

pub(super) fn bson_to_json(value: Bson) -> Value {
    match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::String(s) => Value::String(s),
        Bson::Array(items) => Value::Array(items.into_iter().map(bson_to_json).collect()),
        Bson::Document(doc) => Value::Object(document_to_object(doc)),
        Bson::DateTime(at) => Value::from(at.timestamp_millis()),
        Bson::ObjectId(id) => Value::String(id.to_hex()),
        other => other.into_relaxed_extjson(),
    }
}

/// An integer field whatever its width (small values are Int32, see [`json_to_bson`]).
pub(super) fn integer(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        // Whole numbers only; the range check keeps `as` exact.
        Bson::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        _ => None,
    }
}

pub(super) fn document_to_object(doc: Document) -> Map<String, Value> {
    doc.into_iter().map(|(k, v)| (k, bson_to_json(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_documents_survive_the_round_trip() {
        let original = serde_json::json!({
            "msgTimestamp": 1441977355557_i64, "small": 7, "negative": -3, "ratio": 1.5, "whole": 2.0,
            "flag": true, "nothing": null, "body": "hello", "list": [1, "a", {"x": [false]}],
            "looksLikeExtJson": {"$date": "2020-01-01"}
        });
        let Bson::Document(doc) = json_to_bson(&original) else { panic!("an object becomes a document") };
        assert_eq!(doc.get_i64("msgTimestamp").unwrap(), 1441977355557);
        assert_eq!(doc.get_i32("small").unwrap(), 7);
        assert_eq!(bson_to_json(Bson::Document(doc)), original);
    }
}
