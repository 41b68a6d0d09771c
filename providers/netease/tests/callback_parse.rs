//! Lenient parsing of callback bodies into provider-neutral events, from the example bodies of
//! shared/providers/netease.md §4 and the shapes NetEase is known to vary.

use imbridge_netease::callback::parse;
use imbridge_provider::{Conversation, Event, MessageEvent, ReadReport, Recall};
use serde_json::{json, Value};

const DOC_MESSAGE: &str = r#"{"attach":"thisisattach","body":"hello","convType":"PERSON","eventType":"1","fromAccount":"111","fromClientType":"IOS","fromDeviceId":"thisisfromdeviceid","fromNick":"mike","msgTimestamp":"1441977355557","msgType":"TEXT","msgidClient":"1234567","msgidServer":"3456789","resendFlag":"0","to":"222"}"#;
const DOC_RECEIPT: &str = r#"{"objects":"[{\"toAccount\":\"test100\",\"clientType\":\"AOS\",\"fromAccount\":\"test101\",\"msgidClient\":\"076a5519-59c0-42c9-916d-9652ab390310\",\"timestamp\":1578551421737}]","eventType":"30"}"#;

fn only_event(body: &str) -> Event {
    let parsed = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(parsed.events.len(), 1, "{parsed:?}");
    parsed.events.into_iter().next().unwrap()
}

fn message(body: &str) -> MessageEvent {
    match only_event(body) {
        Event::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn documented_message_example() {
    let parsed = parse(DOC_MESSAGE.as_bytes()).unwrap();
    assert_eq!(parsed.event_type, "1");
    let Event::Message(m) = &parsed.events[0] else { panic!("{parsed:?}") };
    assert_eq!(m.key, "3456789");
    assert_eq!((m.from.as_str(), m.to.as_str()), ("111", "222"));
    assert_eq!(m.conversation, Conversation::P2p);
    assert!(m.counts_as_unread);
    assert_eq!(m.sent_at_ms, 1_441_977_355_557);
    // Every field kept under NetEase's own name; msgTimestamp as a number.
    let original: serde_json::Map<String, Value> = serde_json::from_str(DOC_MESSAGE).unwrap();
    assert_eq!(m.document.len(), original.len());
    for (field, value) in &original {
        if field != "msgTimestamp" {
            assert_eq!(m.document.get(field), Some(value), "{field}");
        }
    }
    assert_eq!(m.document["msgTimestamp"], json!(1_441_977_355_557_i64));
}

#[test]
fn numbers_and_strings_parse_alike() {
    let as_strings = message(DOC_MESSAGE);
    let as_numbers = message(
        r#"{"eventType":1,"convType":"PERSON","fromAccount":"111","to":"222","msgType":"TEXT",
            "msgTimestamp":1441977355557,"msgidServer":3456789,"body":"hello"}"#,
    );
    assert_eq!(as_numbers.key, as_strings.key);
    assert_eq!(as_numbers.sent_at_ms, as_strings.sent_at_ms);
    assert_eq!(as_numbers.document["msgTimestamp"], as_strings.document["msgTimestamp"]);
    assert_eq!(as_numbers.document["msgidServer"], json!("3456789"), "one shape for the unique key");
    assert_eq!(parse(br#"{"eventType":20.0}"#).unwrap().event_type, "20");
}

#[test]
fn p2p_accids_are_lowercased_team_ids_are_not() {
    let p2p = message(
        r#"{"eventType":"1","convType":"PERSON","fromAccount":"Buyer_01","to":"Shop_1","msgType":"TEXT","msgTimestamp":"1","msgidServer":"9"}"#,
    );
    assert_eq!((p2p.from.as_str(), p2p.to.as_str()), ("buyer_01", "shop_1"));
    assert_eq!(p2p.document["fromAccount"], json!("Buyer_01"), "the document stays as received");
    let team = message(
        r#"{"eventType":"1","convType":"TEAM","fromAccount":"Buyer_01","to":"T100Ab","msgType":"TEXT","msgTimestamp":"1","msgidServer":"10"}"#,
    );
    assert_eq!((team.from.as_str(), team.to.as_str()), ("buyer_01", "T100Ab"));
    assert_eq!(team.conversation, Conversation::Team);
    assert!(!team.counts_as_unread, "team messages are not P2P unread");
}

#[test]
fn only_p2p_chat_other_than_tips_counts_as_unread() {
    let body = |conv: &str, msg_type: &str| {
        json!({"eventType":"1","convType":conv,"fromAccount":"a","to":"b","msgType":msg_type,
               "msgTimestamp":"5","msgidServer":"7"})
        .to_string()
    };
    let cases = [
        ("PERSON", "TEXT", Conversation::P2p, true),
        ("PERSON", "PICTURE", Conversation::P2p, true),
        ("PERSON", "TIPS", Conversation::P2p, false),
        ("CUSTOM_PERSON", "CUSTOM_P2P_MSG", Conversation::P2pSystem, false),
        ("CUSTOM_TEAM", "CUSTOM", Conversation::TeamSystem, false),
        ("TEAM", "TEXT", Conversation::Team, false),
        ("SUPER_TEAM", "TEXT", Conversation::Team, false),
        ("SOMETHING_NEW", "TEXT", Conversation::Other, false),
    ];
    for (conv, msg_type, conversation, counts) in cases {
        let m = message(&body(conv, msg_type));
        assert_eq!((m.conversation, m.counts_as_unread), (conversation, counts), "{conv} {msg_type}");
    }
}

#[test]
fn unknown_message_fields_are_kept() {
    let m = message(
        r#"{"eventType":"1","convType":"PERSON","fromAccount":"a","to":"b","msgType":"TEXT","msgTimestamp":"5",
            "msgidServer":"7","brandNewField":{"nested":[1,2]},"yidunRes":"{}"}"#,
    );
    assert_eq!(m.document["brandNewField"], json!({"nested": [1, 2]}));
    assert_eq!(m.document["yidunRes"], json!("{}"));
}

#[test]
fn a_message_without_what_it_needs_is_a_parse_error() {
    let full = json!({"eventType":"1","convType":"PERSON","fromAccount":"a","to":"b","msgType":"TEXT",
                      "msgTimestamp":"5","msgidServer":"7"});
    for field in ["msgidServer", "fromAccount", "to", "convType", "msgTimestamp"] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(field);
        let err = parse(body.to_string().as_bytes()).unwrap_err();
        assert!(err.0.contains(field), "{field}: {err}");
    }
    let mut bad_time = full.clone();
    bad_time["msgTimestamp"] = json!("yesterday");
    assert!(parse(bad_time.to_string().as_bytes()).is_err());
    let mut empty_key = full;
    empty_key["msgidServer"] = json!("");
    assert!(parse(empty_key.to_string().as_bytes()).is_err());
}

#[test]
fn documented_read_receipt_example() {
    let parsed = parse(DOC_RECEIPT.as_bytes()).unwrap();
    assert_eq!(parsed.event_type, "30");
    assert_eq!(
        parsed.events,
        vec![Event::ReadReport(ReadReport {
            reader: "test101".into(),
            peer: "test100".into(),
            read_up_to_ms: 1_578_551_421_737
        })]
    );
}

#[test]
fn receipt_objects_as_an_array_with_several_entries() {
    let body = json!({"eventType": 30, "objects": [
        {"fromAccount": "Reader", "toAccount": "peer1", "timestamp": "100", "clientType": "IOS"},
        {"fromAccount": "reader", "toAccount": "Peer2", "timestamp": 200},
    ]});
    let parsed = parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(
        parsed.events,
        vec![
            Event::ReadReport(ReadReport { reader: "reader".into(), peer: "peer1".into(), read_up_to_ms: 100 }),
            Event::ReadReport(ReadReport { reader: "reader".into(), peer: "peer2".into(), read_up_to_ms: 200 }),
        ]
    );
    // The same list as a JSON-encoded string parses to the same events.
    let encoded = json!({"eventType": "30", "objects": body["objects"].to_string()});
    assert_eq!(parse(encoded.to_string().as_bytes()).unwrap().events, parsed.events);
}

#[test]
fn a_receipt_with_a_broken_object_is_a_parse_error() {
    for objects in [json!("[{\"fromAccount\":\"a\"}]"), json!("not json"), json!(42), json!([1])] {
        let body = json!({"eventType": "30", "objects": objects});
        assert!(parse(body.to_string().as_bytes()).is_err(), "{body}");
    }
    assert!(parse(br#"{"eventType":"30"}"#).is_err(), "objects missing");
    assert_eq!(parse(br#"{"eventType":"30","objects":"[]"}"#).unwrap().events, vec![]);
}

#[test]
fn recall() {
    let body = r#"{"eventType":"7","msgId":"3456789","from":"Seller_1","to":"buyer_01","deleteTime":"1578551421999",
                   "sendTime":1578551421000,"fromClientType":"AOS","attach":"recalled"}"#;
    assert_eq!(
        only_event(body),
        Event::Recall(Recall {
            key: "3456789".into(),
            from: "seller_1".into(),
            to: "buyer_01".into(),
            at_ms: 1_578_551_421_999
        })
    );
    assert!(parse(br#"{"eventType":"7","from":"a","to":"b","deleteTime":1}"#).is_err(), "msgId missing");
}

#[test]
fn login_and_logout() {
    let login = r#"{"eventType":"2","accid":"Buyer_01","clientType":"IOS","clientIp":"10.0.0.1","code":"200",
                    "timestamp":"1578551421000","deviceId":"dev-1","sdkVersion":"9.0"}"#;
    let Event::Presence(p) = only_event(login) else { panic!("presence expected") };
    assert_eq!(
        (p.accid.as_str(), p.client_type.as_str(), p.device_id.as_deref(), p.online, p.at_ms),
        ("buyer_01", "ios", Some("dev-1"), true, 1_578_551_421_000)
    );
    assert_eq!(p.document["clientIp"], json!("10.0.0.1"));
    assert_eq!(p.document["timestamp"], json!(1_578_551_421_000_i64));

    let logout = json!({"eventType": 3, "accid": "buyer_01", "clientType": "iOS", "timestamp": 1578551422000_i64,
        "code": 200, "logOutReason": 2});
    let Event::Presence(p) = only_event(&logout.to_string()) else { panic!("presence expected") };
    assert_eq!((p.client_type.as_str(), p.device_id, p.online, p.at_ms), ("ios", None, false, 1_578_551_422_000));
    assert_eq!(p.logout_reason, Some(2));

    let no_type = json!({"eventType": "2", "accid": "a", "timestamp": 1});
    let Event::Presence(p) = only_event(&no_type.to_string()) else { panic!("presence expected") };
    assert_eq!(p.client_type, "unknown");
    assert!(parse(br#"{"eventType":"2","deviceId":"d","timestamp":1}"#).is_err(), "accid missing");
}

#[test]
fn a_failed_login_changes_nothing() {
    for code in [json!("302"), json!(302), json!("500"), json!("not a code")] {
        let login = json!({"eventType": "2", "accid": "a", "clientType": "AOS", "code": code, "timestamp": 1});
        let parsed = parse(login.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.events, vec![Event::Other], "code {code}");
    }
    for code in [json!("200"), json!(200), json!(" 200 ")] {
        let login = json!({"eventType": 2, "accid": "a", "clientType": "AOS", "code": code, "timestamp": 1});
        assert!(matches!(only_event(&login.to_string()), Event::Presence(_)), "code {code}");
    }
}

#[test]
fn console_test_body_has_nothing_to_apply() {
    let parsed = parse(b"{}").unwrap();
    assert_eq!((parsed.event_type.as_str(), parsed.events.len()), ("", 0));
}

#[test]
fn other_event_types_are_kept_raw_only() {
    for body in [r#"{"eventType":"20","roomId":1}"#, r#"{"eventType":83}"#, r#"{"something":"else"}"#] {
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.events, vec![Event::Other], "{body}");
    }
    assert_eq!(parse(br#"{"eventType":" 20 "}"#).unwrap().event_type, "20");
}

#[test]
fn bodies_that_are_not_an_event_object_are_parse_errors() {
    for body in [&b""[..], b"not json", b"[]", b"42", b"\"1\"", br#"{"eventType":null}"#, br#"{"eventType":[1]}"#] {
        assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
}
