//! `parse` must never panic: whatever a signed sender posts ends as events or a ParseError.

use imbridge_netease::callback::parse;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON, biased towards the field names and values the parser looks at.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        Just("eventType".to_string()),
        Just("objects".to_string()),
        Just("msgTimestamp".to_string()),
        Just("msgidServer".to_string()),
        Just("fromAccount".to_string()),
        Just("toAccount".to_string()),
        Just("timestamp".to_string()),
        Just("convType".to_string()),
        Just("accid".to_string()),
        "[a-zA-Z]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        prop_oneof![Just("1"), Just("2"), Just("3"), Just("7"), Just("30"), Just("PERSON"), Just("TIPS"), Just("[{}]")]
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner.clone()), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
            // A JSON-encoded document inside a string, as `objects` arrives.
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let _ = parse(value.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_events_never_panic(event_type in prop_oneof![Just("1"), Just("2"), Just("3"), Just("7"), Just("30")],
                                    fields in prop::collection::vec((json_value(), json_value()), 0..4),
                                    body in json_value()) {
        let mut doc = match body { Value::Object(map) => map, _ => Map::new() };
        doc.insert("eventType".into(), Value::from(event_type));
        for (k, v) in fields {
            doc.insert(k.as_str().unwrap_or("objects").to_owned(), v);
        }
        if let Ok(parsed) = parse(Value::Object(doc).to_string().as_bytes()) {
            prop_assert_eq!(parsed.event_type, event_type);
        }
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep.as_bytes()).is_err());
    let deep_objects = format!(r#"{{"eventType":"30","objects":"{}{}"}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep_objects.as_bytes()).is_err());
}
