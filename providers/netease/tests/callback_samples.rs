//! Every callback body shared/providers/netease.md quotes from NetEase's documentation, verbatim, as
//! a fixture: each parses to the event it means, and stays the same event when an unknown field is
//! added (NetEase adds fields without notice). Then the documented variants the parser must handle:
//! team and super-team recalls, SUPER_TEAM messages, `attach` as an object, `blacklist` and
//! `antispam`, call records, and the bridge's own CUSTOM_P2P_MSG notifications.

use imbridge_netease::callback::{parse, parse_with, ParseOptions};
use imbridge_provider::{Conversation, Event, ParsedCallback};
use serde_json::{json, Value};

/// §2 eventType 7, verbatim.
const RECALL_P2P: &str = r#"{"clientId":"9e549196-1bb4-4143-a428-d13eaa0cd732","deleteTime":"1487308054709","eventType":"7","from":"zhangsan","fromClientType":"IOS","msgId":"11555996","selfMsg":"撤回了一条消息","sendTime":"1487308046652","to":"lisi"}"#;
/// §2 eventType 30, verbatim.
const RECEIPT_SECTION_2: &str = r#"{"eventType":"30","objects":"[{\"fromAccount\":\"reader\",\"toAccount\":\"sender\",\"msgidClient\":\"...\",\"timestamp\":1578551421737,\"clientType\":\"AOS\"}]"}"#;
/// §2 eventType 2, verbatim.
const LOGIN: &str = r#"{"clientType":"AOS","code":"200","clientIp":"60.2*.**.202","customTag":"登录自定义字段","accid":"t3","sdkVersion":"152","eventType":"2","deviceId":"c25f82d0-5f2e-492f-b5cc-3f4a585c25a2","timestamp":"1608877682237"}"#;
/// §2 eventType 3, verbatim: no deviceId, `iOS`, `code` a number.
const LOGOUT: &str =
    r#"{"clientType":"iOS","code":200,"accid":"tes","sdkVersion":"155","eventType":"3","timestamp":1608872658452}"#;
/// §4 eventType 1, verbatim.
const MESSAGE: &str = r#"{"attach":"thisisattach","body":"hello","convType":"PERSON","eventType":"1","fromAccount":"111","fromClientType":"IOS","fromDeviceId":"thisisfromdeviceid","fromNick":"mike","msgTimestamp":"1441977355557","msgType":"TEXT","msgidClient":"1234567","msgidServer":"3456789","resendFlag":"0","to":"222"}"#;
/// §4 eventType 30, verbatim.
const RECEIPT_SECTION_4: &str = r#"{"objects":"[{\"toAccount\":\"test100\",\"clientType\":\"AOS\",\"fromAccount\":\"test101\",\"msgidClient\":\"076a5519-59c0-42c9-916d-9652ab390310\",\"timestamp\":1578551421737}]","eventType":"30"}"#;

/// What a parsed event means, without the provider's document (which keeps unknown fields).
#[derive(Debug, PartialEq)]
enum Meaning {
    Message { key: String, from: String, to: String, conversation: Conversation, counts: bool, at: i64 },
    Read { reader: String, peer: String, up_to: i64 },
    Recall { key: String, from: String, to: String, at: i64 },
    Presence { accid: String, client: String, device: Option<String>, online: bool, at: i64, reason: Option<i64> },
    Other,
}

fn meanings(parsed: &ParsedCallback) -> Vec<Meaning> {
    parsed
        .events
        .iter()
        .map(|event| match event {
            Event::Message(m) => Meaning::Message {
                key: m.key.clone(),
                from: m.from.clone(),
                to: m.to.clone(),
                conversation: m.conversation,
                counts: m.counts_as_unread,
                at: m.sent_at_ms,
            },
            Event::ReadReport(r) => {
                Meaning::Read { reader: r.reader.clone(), peer: r.peer.clone(), up_to: r.read_up_to_ms }
            }
            Event::Recall(r) => {
                Meaning::Recall { key: r.key.clone(), from: r.from.clone(), to: r.to.clone(), at: r.at_ms }
            }
            Event::Presence(p) => Meaning::Presence {
                accid: p.accid.clone(),
                client: p.client_type.clone(),
                device: p.device_id.clone(),
                online: p.online,
                at: p.at_ms,
                reason: p.logout_reason,
            },
            Event::Other => Meaning::Other,
        })
        .collect()
}

/// `body` parses to `expected`, and so does `body` with unknown fields added.
fn means(body: &str, expected: Vec<Meaning>) {
    let parsed = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(meanings(&parsed), expected, "{body}");
    let mut extended: Value = serde_json::from_str(body).unwrap();
    extended["someFieldNetEaseAddsLater"] = json!({"nested": [1, "two"]});
    extended["anotherOne"] = json!(null);
    let parsed = parse(extended.to_string().as_bytes()).unwrap_or_else(|e| panic!("{extended}: {e}"));
    assert_eq!(meanings(&parsed), expected, "with unknown fields: {extended}");
}

fn message(key: &str, from: &str, to: &str, conversation: Conversation, counts: bool, at: i64) -> Meaning {
    Meaning::Message { key: key.into(), from: from.into(), to: to.into(), conversation, counts, at }
}

#[test]
fn the_documented_message() {
    means(MESSAGE, vec![message("3456789", "111", "222", Conversation::P2p, true, 1_441_977_355_557)]);
}

#[test]
fn the_documented_read_receipts() {
    means(
        RECEIPT_SECTION_2,
        vec![Meaning::Read { reader: "reader".into(), peer: "sender".into(), up_to: 1_578_551_421_737 }],
    );
    means(
        RECEIPT_SECTION_4,
        vec![Meaning::Read { reader: "test101".into(), peer: "test100".into(), up_to: 1_578_551_421_737 }],
    );
}

#[test]
fn the_documented_recall() {
    means(
        RECALL_P2P,
        vec![Meaning::Recall {
            key: "11555996".into(),
            from: "zhangsan".into(),
            to: "lisi".into(),
            at: 1_487_308_054_709,
        }],
    );
    let Event::Recall(_) = &parse(RECALL_P2P.as_bytes()).unwrap().events[0] else { unreachable!() };
}

#[test]
fn the_documented_login_and_logout() {
    means(
        LOGIN,
        vec![Meaning::Presence {
            accid: "t3".into(),
            client: "aos".into(),
            device: Some("c25f82d0-5f2e-492f-b5cc-3f4a585c25a2".into()),
            online: true,
            at: 1_608_877_682_237,
            reason: None,
        }],
    );
    means(
        LOGOUT,
        vec![Meaning::Presence {
            accid: "tes".into(),
            client: "ios".into(),
            device: None,
            online: false,
            at: 1_608_872_658_452,
            reason: None,
        }],
    );
}

#[test]
fn team_and_super_team_recalls_are_recalls() {
    for event_type in ["8", "25"] {
        let body = json!({"eventType": event_type, "msgId": "7001", "from": "Zhangsan", "to": "TeamA1",
            "deleteTime": "1487308054709", "sendTime": "1487308046652", "fromClientType": "AOS",
            "clientId": "c-1", "selfMsg": "撤回了一条消息"});
        // A team id is not an accid: kept as sent.
        means(
            &body.to_string(),
            vec![Meaning::Recall {
                key: "7001".into(),
                from: "zhangsan".into(),
                to: "TeamA1".into(),
                at: 1_487_308_054_709,
            }],
        );
    }
}

fn chat(fields: Value) -> String {
    let mut body = serde_json::from_str::<Value>(MESSAGE).unwrap();
    for (k, v) in fields.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    body.to_string()
}

#[test]
fn super_team_messages_are_team_messages() {
    let body = chat(json!({"convType": "SUPER_TEAM", "to": "9001"}));
    means(&body, vec![message("3456789", "111", "9001", Conversation::Team, false, 1_441_977_355_557)]);
}

#[test]
fn attach_may_be_an_object() {
    let body = chat(json!({"convType": "TEAM", "to": "9001", "msgType": "NOTIFICATION",
        "attach": {"id": 2, "data": {"tinfo": {"tid": "9001"}, "ids": ["a", "b"]}}}));
    means(&body, vec![message("3456789", "111", "9001", Conversation::Team, false, 1_441_977_355_557)]);
    let Event::Message(m) = &parse(body.as_bytes()).unwrap().events[0] else { panic!() };
    assert_eq!(m.document["attach"]["data"]["ids"], json!(["a", "b"]), "kept as the object it was");
}

#[test]
fn a_blacklisted_message_never_counts_as_unread() {
    // The sender is on the receiver's blacklist: NetEase never delivered it.
    for flag in [json!("true"), json!(true)] {
        means(
            &chat(json!({"blacklist": flag})),
            vec![message("3456789", "111", "222", Conversation::P2p, false, 1_441_977_355_557)],
        );
    }
    means(
        &chat(json!({"blacklist": "false"})),
        vec![message("3456789", "111", "222", Conversation::P2p, true, 1_441_977_355_557)],
    );
}

#[test]
fn an_antispam_flagged_message_counts_unless_configured_otherwise() {
    let body = chat(json!({"antispam": "true", "yidunRes": "{\"type\":1}"}));
    means(&body, vec![message("3456789", "111", "222", Conversation::P2p, true, 1_441_977_355_557)]);
    let strict = parse_with(body.as_bytes(), ParseOptions { antispam_counts_as_unread: false }).unwrap();
    assert_eq!(meanings(&strict), vec![message("3456789", "111", "222", Conversation::P2p, false, 1_441_977_355_557)]);
    let Event::Message(m) = &strict.events[0] else { panic!() };
    assert_eq!(m.document["antispam"], json!("true"), "the flag is stored");
}

#[test]
fn call_records_count_as_unread() {
    // A missed call shows as unread in chat apps (README: what counts).
    for msg_type in ["NRTC_NETCALL", "NETCALL_AUDIO", "NETCALL_VEDIO"] {
        let body = chat(json!({"msgType": msg_type, "body": "", "attach": "{\"type\":1,\"status\":2}"}));
        means(&body, vec![message("3456789", "111", "222", Conversation::P2p, true, 1_441_977_355_557)]);
    }
}

#[test]
fn the_bridges_own_notifications_never_count() {
    // CUSTOM_PERSON carries no msgidClient, resendFlag, fromDeviceId or fromClientType.
    let body =
        chat(json!({"convType": "CUSTOM_PERSON", "msgType": "CUSTOM_P2P_MSG", "attach": "{\"type\":\"shipped\"}",
        "customSafeFlag": "0", "customApnsText": "Your parcel has shipped",
        "msgidClient": null, "resendFlag": null, "fromDeviceId": null, "fromClientType": null}));
    means(&body, vec![message("3456789", "111", "222", Conversation::P2pSystem, false, 1_441_977_355_557)]);
}
