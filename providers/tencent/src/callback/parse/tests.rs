//! Bodies shaped like Tencent's documented request samples (cloud.tencent.com/document/product/269,
//! tencentcloud.com/document/product/1047: 34365 after-send, 43465 read report, 43466 recall,
//! 34357 state change), comments dropped.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::callback::notification_cloud_data;

const NOW_MS: i64 = 1_764_547_200_123;

fn parse_doc(doc: &Value) -> ParsedCallback {
    parse_at(None, doc.to_string().as_bytes(), NOW_MS).expect("a JSON object parses")
}

fn one_event(doc: &Value) -> Event {
    let parsed = parse_doc(doc);
    assert_eq!(parsed.events.len(), 1, "{parsed:?}");
    parsed.events.into_iter().next().unwrap()
}

fn after_send_sample() -> Value {
    json!({
        "CallbackCommand": "C2C.CallbackAfterSendMsg",
        "From_Account": "jared",
        "To_Account": "Jonh",
        "MsgSeq": 48374,
        "MsgRandom": 2837546,
        "MsgTime": 1557481126,
        "MsgKey": "48374_2837546_1557481126",
        "OnlineOnlyFlag": 0,
        "SendMsgResult": 0,
        "ErrorInfo": "send msg succeed",
        "UnreadMsgNum": 7,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "red packet"}}],
        "CloudCustomData": "your cloud custom data"
    })
}

#[test]
fn after_send_is_a_p2p_message_counting_as_unread() {
    let sample = after_send_sample();
    let parsed = parse_doc(&sample);
    assert_eq!(parsed.event_type, "C2C.CallbackAfterSendMsg");
    let Event::Message(message) = &parsed.events[0] else { panic!("{parsed:?}") };
    assert_eq!(message.key, "48374_2837546_1557481126");
    assert_eq!(message.from, "jared");
    assert_eq!(message.to, "jonh");
    assert_eq!(message.conversation, Conversation::P2p);
    assert!(message.counts_as_unread);
    assert_eq!(message.sent_at_ms, 1_557_481_126_000);
    // The document is Tencent's own body, every field kept.
    assert_eq!(Value::Object(message.document.clone()), sample);
}

#[test]
fn after_send_normalises_a_string_time_in_the_document() {
    let mut sample = after_send_sample();
    sample["MsgTime"] = json!("1557481126");
    let Event::Message(message) = one_event(&sample) else { panic!() };
    assert_eq!(message.sent_at_ms, 1_557_481_126_000);
    assert_eq!(message.document["MsgTime"], json!(1557481126));
}

#[test]
fn a_failed_send_does_not_count() {
    let mut sample = after_send_sample();
    sample["SendMsgResult"] = json!(80001);
    sample["ErrorInfo"] = json!("dirty word");
    sample["UnreadMsgNum"] = json!(-1);
    assert_eq!(one_event(&sample), Event::Other);
    sample["SendMsgResult"] = json!("20003");
    assert_eq!(one_event(&sample), Event::Other);
}

#[test]
fn an_imbridge_notification_is_a_system_message_not_unread() {
    let mut sample = after_send_sample();
    sample["CloudCustomData"] = json!(notification_cloud_data(Some("{\"kind\":\"order\"}")));
    sample["MsgBody"] = json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}", "Desc": "", "Ext": ""}}]);
    let Event::Message(message) = one_event(&sample) else { panic!() };
    assert_eq!(message.conversation, Conversation::P2pSystem);
    assert!(!message.counts_as_unread);
}

#[test]
fn an_online_only_message_does_not_count() {
    let mut sample = after_send_sample();
    sample["OnlineOnlyFlag"] = json!(1);
    let Event::Message(message) = one_event(&sample) else { panic!() };
    assert_eq!(message.conversation, Conversation::P2p);
    assert!(!message.counts_as_unread);
}

#[test]
fn an_after_send_lacking_its_key_fields_is_stored_raw_only() {
    for field in ["MsgKey", "From_Account", "To_Account", "MsgTime"] {
        let mut sample = after_send_sample();
        sample.as_object_mut().unwrap().remove(field);
        let parsed = parse_doc(&sample);
        assert_eq!(parsed.event_type, "C2C.CallbackAfterSendMsg");
        assert_eq!(parsed.events, vec![Event::Other], "without {field}");
    }
    let mut sample = after_send_sample();
    sample["MsgTime"] = json!("yesterday");
    assert_eq!(one_event(&sample), Event::Other);
    sample["MsgTime"] = json!(i64::MAX);
    assert_eq!(one_event(&sample), Event::Other);
    let mut sample = after_send_sample();
    sample["SendMsgResult"] = json!("failed");
    assert_eq!(one_event(&sample), Event::Other);
}

#[test]
fn read_report_reads_up_to_the_end_of_its_second() {
    let sample = json!({
        "CallbackCommand": "C2C.CallbackAfterMsgReport",
        "Report_Account": "jared",
        "Peer_Account": "Jonh",
        "LastReadTime": 1614754606,
        "UnreadMsgNum": 7
    });
    let parsed = parse_doc(&sample);
    assert_eq!(parsed.event_type, "C2C.CallbackAfterMsgReport");
    assert_eq!(
        parsed.events,
        vec![Event::ReadReport(ReadReport {
            reader: "jared".into(),
            peer: "jonh".into(),
            read_up_to_ms: 1_614_754_606_999
        })]
    );
    let mut broken = sample.clone();
    broken.as_object_mut().unwrap().remove("LastReadTime");
    assert_eq!(one_event(&broken), Event::Other);
}

#[test]
fn withdraw_is_a_recall_dated_when_parsed() {
    let sample = json!({
        "CallbackCommand": "C2C.CallbackAfterMsgWithDraw",
        "From_Account": "jared",
        "To_Account": "Jonh",
        "MsgKey": "48374_2837546_1557481126",
        "UnreadMsgNum": 7
    });
    let parsed = parse_doc(&sample);
    assert_eq!(parsed.event_type, "C2C.CallbackAfterMsgWithDraw");
    assert_eq!(
        parsed.events,
        vec![Event::Recall(Recall {
            key: "48374_2837546_1557481126".into(),
            from: "jared".into(),
            to: "jonh".into(),
            at_ms: NOW_MS,
        })]
    );
    // The public entry point dates it with the wall clock.
    let before = now_ms();
    let Event::Recall(recall) = parse(sample.to_string().as_bytes()).unwrap().events.remove(0) else { panic!() };
    assert!(recall.at_ms >= before && recall.at_ms <= now_ms());
}

fn state_change_sample() -> Value {
    json!({
        "CallbackCommand": "State.StateChange",
        "EventTime": 1629883332497_i64,
        "Info": {"Action": "Login", "To_Account": "testuser316", "Reason": "Register"},
        "KickedDevice": [{"Platform": "Windows"}, {"Platform": "Android"}]
    })
}

#[test]
fn state_change_login_is_online_and_kicked_devices_go_offline() {
    let sample = state_change_sample();
    let parsed = parse_doc(&sample);
    assert_eq!(parsed.event_type, "State.StateChange");
    let presence = |client_type: &str, online, logout_reason| {
        Event::Presence(Presence {
            accid: "testuser316".into(),
            client_type: client_type.into(),
            device_id: None,
            online,
            at_ms: 1_629_883_332_497,
            logout_reason,
            document: sample.as_object().unwrap().clone(),
        })
    };
    assert_eq!(
        parsed.events,
        vec![presence("unknown", true, None), presence("pc", false, Some(3)), presence("aos", false, Some(3))]
    );
}

#[test]
fn state_change_takes_the_client_type_from_the_query() {
    let query = "/cb?SdkAppid=1400000001&CallbackCommand=State.StateChange&contenttype=json&ClientIP=1.2.3.4&OptPlatform=Android";
    let body = state_change_sample().to_string();
    let parsed = parse_with_query(query, body.as_bytes()).unwrap();
    let types: Vec<(&str, bool)> = parsed
        .events
        .iter()
        .map(|e| match e {
            Event::Presence(p) => (p.client_type.as_str(), p.online),
            other => panic!("{other:?}"),
        })
        .collect();
    // The Android login does not mark itself offline; the Windows client it kicked goes offline.
    assert_eq!(types, vec![("aos", true), ("pc", false)]);

    let query = "SdkAppid=1&OptPlatform=IOS";
    let Event::Presence(p) = parse_with_query(query, body.as_bytes()).unwrap().events.remove(0) else { panic!() };
    assert_eq!(p.client_type, "ios");
}

#[test]
fn state_change_logout_and_disconnect_are_offline_with_a_reason() {
    for (action, reason, expected) in
        [("Logout", "Unregister", Some(1)), ("Disconnect", "LinkClose", Some(2)), ("Disconnect", "TimeOut", Some(2))]
    {
        let sample = json!({
            "CallbackCommand": "State.StateChange",
            "EventTime": 1629883332497_i64,
            "Info": {"Action": action, "To_Account": "TestUser316", "Reason": reason}
        });
        let Event::Presence(p) = one_event(&sample) else { panic!() };
        assert_eq!((p.accid.as_str(), p.online, p.logout_reason), ("testuser316", false, expected));
        assert_eq!(p.client_type, "unknown");
    }
}

#[test]
fn a_custom_status_change_or_a_broken_state_change_is_other() {
    let custom = json!({
        "CallbackCommand": "State.StateChange",
        "EventTime": 1629883332497_i64,
        "Info": {"Action": "CustomStatusChange", "To_Account": "a", "Reason": "SetCustomStatus", "CustomStatus": "busy"}
    });
    assert_eq!(one_event(&custom), Event::Other);
    let mut no_time = state_change_sample();
    no_time.as_object_mut().unwrap().remove("EventTime");
    assert_eq!(one_event(&no_time), Event::Other);
    assert_eq!(one_event(&json!({"CallbackCommand": "State.StateChange", "Info": "x"})), Event::Other);
}

#[test]
fn other_commands_are_stored_raw_with_their_command() {
    for command in ["Group.CallbackAfterSendMsg", "Sns.CallbackFriendAdd", "C2C.CallbackBeforeSendMsg", "Made.Up"] {
        let parsed = parse_doc(&json!({"CallbackCommand": command, "From_Account": "a"}));
        assert_eq!(parsed, ParsedCallback { event_type: command.into(), events: vec![Event::Other] });
    }
    // No command anywhere.
    let parsed = parse_doc(&json!({"From_Account": "a"}));
    assert_eq!(parsed, ParsedCallback { event_type: String::new(), events: vec![Event::Other] });
    // An empty object has nothing to apply.
    assert_eq!(parse_doc(&json!({})), ParsedCallback { event_type: String::new(), events: vec![] });
}

#[test]
fn the_query_command_is_the_fallback() {
    let mut sample = after_send_sample();
    sample.as_object_mut().unwrap().remove("CallbackCommand");
    let body = sample.to_string();
    let parsed = parse_with_query("/cb?CallbackCommand=C2C.CallbackAfterSendMsg", body.as_bytes()).unwrap();
    assert_eq!(parsed.event_type, "C2C.CallbackAfterSendMsg");
    assert!(matches!(parsed.events[..], [Event::Message(_)]));
    // The body's own command wins.
    let body = after_send_sample().to_string();
    let parsed = parse_with_query("/cb?CallbackCommand=Group.CallbackAfterSendMsg", body.as_bytes()).unwrap();
    assert_eq!(parsed.event_type, "C2C.CallbackAfterSendMsg");
}

#[test]
fn garbage_is_a_parse_error_like_netease() {
    for body in [&b"not json"[..], b"", b"[1,2]", b"\"text\"", b"{\"CallbackCommand\":", b"\xff\xfe"] {
        assert!(parse(body).is_err(), "{body:?}");
    }
}

proptest! {
    #[test]
    fn parse_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&body);
        let _ = parse_with_query("?OptPlatform=iOS&CallbackCommand=State.StateChange", &body);
    }

    #[test]
    fn parse_never_panics_on_known_commands_with_odd_fields(
        command in prop::sample::select(vec![
            "C2C.CallbackAfterSendMsg", "C2C.CallbackAfterMsgReport", "C2C.CallbackAfterMsgWithDraw", "State.StateChange",
        ]),
        field in prop::sample::select(vec![
            "MsgKey", "From_Account", "To_Account", "MsgTime", "SendMsgResult", "OnlineOnlyFlag", "CloudCustomData",
            "Report_Account", "Peer_Account", "LastReadTime", "EventTime", "Info", "KickedDevice",
        ]),
        value in prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,12}".prop_map(Value::from),
            Just(json!([{"Platform": 1}, "x"])),
            Just(json!({"Action": "Login", "To_Account": 7})),
        ],
    ) {
        let mut doc = match command {
            "C2C.CallbackAfterSendMsg" => after_send_sample(),
            "State.StateChange" => state_change_sample(),
            _ => json!({"CallbackCommand": command, "From_Account": "a", "To_Account": "b", "MsgKey": "k",
                        "Report_Account": "a", "Peer_Account": "b", "LastReadTime": 1}),
        };
        doc[field] = value;
        let parsed = parse(doc.to_string().as_bytes()).expect("an object parses");
        prop_assert_eq!(parsed.event_type, command);
        prop_assert!(!parsed.events.is_empty());
    }
}
