//! What the simulator posts, compared key by key and type by type with the documented field sets of
//! each kind of event (shared/providers/netease.md §2, §4, §5). The sets live in one table:
//! [`SHAPES`]. A key outside its kind's set, a missing required key or a value of another type
//! fails the test.

use serde_json::{json, Value};

use crate::helpers::{config, unique, Receiver, Sim};
use imbridge_netease::sim::SimConfig;

/// A value's JSON type, as the samples show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Num,
    /// `attach` is a string in most samples, a JSON object in some.
    StrOrObj,
    /// Documented without a sample of its type (`yidunRes`, `tMembers`).
    Any,
}

use Ty::{Any, Num, Str, StrOrObj};

/// Required or optional ("present only when it applies").
const R: bool = true;
const O: bool = false;

type Field = (&'static str, Ty, bool);

/// The chat fields every message kind shares.
const CHAT: &[Field] = &[
    ("eventType", Str, R),
    ("convType", Str, R),
    ("to", Str, R),
    ("fromAccount", Str, R),
    ("fromClientType", Str, R),
    ("fromNick", Str, R),
    ("msgTimestamp", Str, R),
    ("msgType", Str, R),
    ("body", Str, R),
    ("msgidClient", Str, R),
    ("msgidServer", Str, R),
    ("resendFlag", Str, R),
    ("attach", StrOrObj, O),
    ("ext", Str, O),
    ("antispam", Str, O),
    ("yidunRes", Any, O),
    ("blacklist", Str, O),
    ("tMembers", Any, O),
];

/// The documented field sets, one row per kind of event (the chat rows add to [`CHAT`]).
const SHAPES: &[(&str, &[Field])] = &[
    // §2: `ip`/`port` only on messages sent from an SDK; the §4 sample has fromDeviceId.
    ("message from SDK", &[("fromDeviceId", Str, R), ("ip", Str, R), ("port", Str, R)]),
    // REST: no client address; a device id is not documented either way.
    ("message via REST", &[("fromDeviceId", Str, O)]),
    // §2: CUSTOM_PERSON/CUSTOM_TEAM carry customSafeFlag/customApnsText, none of the chat-only
    // fields (msgidClient, resendFlag, fromDeviceId, fromClientType).
    (
        "custom notification",
        &[
            ("eventType", Str, R),
            ("convType", Str, R),
            ("to", Str, R),
            ("fromAccount", Str, R),
            ("fromNick", Str, O),
            ("msgTimestamp", Str, R),
            ("msgType", Str, R),
            ("msgidServer", Str, R),
            ("body", Str, O),
            ("attach", StrOrObj, R),
            ("customSafeFlag", Str, R),
            ("customApnsText", Str, R),
        ],
    ),
    (
        "friend add",
        &[
            ("eventType", Str, R),
            ("convType", Str, R),
            ("to", Str, R),
            ("fromAccount", Str, R),
            ("fromNick", Str, O),
            ("msgTimestamp", Str, R),
            ("msgType", Str, R),
            ("msgidServer", Str, R),
            ("body", Str, O),
            ("attach", Str, R),
            ("customSafeFlag", Str, R),
            ("customApnsText", Str, R),
        ],
    ),
    // §2 eventType 7 and its sample.
    (
        "recall",
        &[
            ("eventType", Str, R),
            ("msgId", Str, R),
            ("from", Str, R),
            ("to", Str, R),
            ("deleteTime", Str, R),
            ("sendTime", Str, R),
            ("fromClientType", Str, R),
            ("clientId", Str, R),
            ("selfMsg", Str, R),
            ("attach", Str, O),
        ],
    ),
    // §2/§4 eventType 30: `objects` is a JSON-encoded string of the "read receipt object" rows.
    ("read receipt", &[("eventType", Str, R), ("objects", Str, R)]),
    (
        "read receipt object",
        &[
            ("fromAccount", Str, R),
            ("toAccount", Str, R),
            ("msgidClient", Str, R),
            ("timestamp", Num, R),
            ("clientType", Str, R),
        ],
    ),
    // §2 login fields and sample: code "200" and timestamp as strings.
    (
        "login",
        &[
            ("eventType", Str, R),
            ("accid", Str, R),
            ("clientType", Str, R),
            ("clientIp", Str, O),
            ("code", Str, R),
            ("timestamp", Str, R),
            ("sdkVersion", Str, R),
            ("sdkHumanVersion", Str, O),
            ("customTag", Str, O),
            ("deviceId", Str, O),
        ],
    ),
    // §2 logout sample: code and timestamp as numbers, no clientIp guaranteed, plus logOutReason
    // (no sample of its type; the simulator sends a number, like the sample's other numbers).
    (
        "logout",
        &[
            ("eventType", Str, R),
            ("accid", Str, R),
            ("clientType", Str, R),
            ("clientIp", Str, O),
            ("code", Num, R),
            ("timestamp", Num, R),
            ("sdkVersion", Str, R),
            ("sdkHumanVersion", Str, O),
            ("customTag", Str, O),
            ("deviceId", Str, O),
            ("logOutReason", Num, R),
        ],
    ),
];

fn fields(kind: &str) -> Vec<Field> {
    let row = SHAPES.iter().find(|(k, _)| *k == kind).unwrap_or_else(|| panic!("no shape for {kind}")).1;
    if kind.starts_with("message") {
        CHAT.iter().chain(row).copied().collect()
    } else {
        row.to_vec()
    }
}

fn has_type(value: &Value, ty: Ty) -> bool {
    match ty {
        Str => value.is_string(),
        Num => value.is_number(),
        StrOrObj => value.is_string() || value.is_object(),
        Any => true,
    }
}

/// Everything wrong with `event` as a `kind`.
fn problems(kind: &str, event: &Value) -> Vec<String> {
    let shape = fields(kind);
    let Some(object) = event.as_object() else { return vec![format!("{kind}: not an object: {event}")] };
    let mut found = Vec::new();
    for (key, value) in object {
        match shape.iter().find(|(k, _, _)| k == key) {
            None => found.push(format!("{kind}: undocumented key {key}")),
            Some((_, ty, _)) if !has_type(value, *ty) => found.push(format!("{kind}: {key} is {value}, not {ty:?}")),
            Some(_) => {}
        }
    }
    for (key, _, required) in &shape {
        if *required && !object.contains_key(*key) {
            found.push(format!("{kind}: required key {key} missing"));
        }
    }
    if kind == "read receipt" {
        let objects: Value = event["objects"].as_str().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
        match objects.as_array() {
            Some(items) if !items.is_empty() => {
                items.iter().for_each(|item| found.extend(problems("read receipt object", item)));
            }
            _ => found.push(format!("read receipt: objects is not a JSON-encoded list: {event}")),
        }
    }
    found
}

#[tokio::test]
async fn every_kind_of_event_has_the_documented_keys_and_types() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = Sim::start_with(SimConfig { callback_url: Some(url), ..config() }).await;
    let (a, b) = (unique("shape"), unique("shape"));
    sim.call("user/create", &[("accid", &a), ("name", "Alice")]).await;
    sim.create(&b).await;

    // Each action and the kind of event it must produce, in delivery order.
    let mut expected = Vec::new();
    let (_, sdk) = sim
        .post(
            "/__sim/clients/message",
            json!({"from": a, "to": b, "body": "hi", "fromDeviceId": "phone-1", "antispam": true}),
        )
        .await;
    expected.push("message from SDK");
    let rest = sim
        .call("msg/sendMsg", &[("from", &a), ("ope", "0"), ("to", &b), ("type", "0"), ("body", r#"{"msg":"hello"}"#)])
        .await;
    assert_eq!(rest["code"], 200, "{rest}");
    expected.push("message via REST");
    let notice =
        [("from", a.as_str()), ("msgtype", "0"), ("to", b.as_str()), ("attach", r#"{"k":1}"#), ("pushcontent", "news")];
    assert_eq!(sim.call("msg/sendAttachMsg", &notice).await["code"], 200);
    expected.push("custom notification");
    let team = [("from", a.as_str()), ("msgtype", "1"), ("to", "778899"), ("attach", "x"), ("save", "1")];
    assert_eq!(sim.call("msg/sendAttachMsg", &team).await["code"], 200);
    expected.push("custom notification");
    assert_eq!(
        sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "2"), ("msg", "hi")]).await["code"],
        200
    );
    expected.push("friend add");
    let msgid = rest["data"]["msgid"].to_string();
    let timetag = rest["data"]["timetag"].to_string();
    let recall = [
        ("deleteMsgid", msgid.as_str()),
        ("timetag", &timetag),
        ("type", "7"),
        ("from", &a),
        ("to", &b),
        ("msg", "undo"),
    ];
    assert_eq!(sim.call("msg/recall", &recall).await["code"], 200);
    expected.push("recall");
    let sdk_id: u64 = sdk["msgidServer"].as_str().unwrap().parse().unwrap();
    sim.post("/__sim/clients/recall", json!({"msgid": sdk_id + 1_000_000, "from": a, "to": b})).await;
    expected.push("recall");
    sim.post("/__sim/clients/read", json!({"reader": b, "peer": a})).await;
    expected.push("read receipt");
    let read = [("from", b.as_str()), ("to", a.as_str()), ("msgidClient", sdk["msgidClient"].as_str().unwrap())];
    assert_eq!(sim.call("msg/markReadMsg", &read).await["code"], 200);
    expected.push("read receipt");
    sim.post("/__sim/clients/login", json!({"accid": a, "deviceId": "phone-1", "customTag": "t"})).await;
    expected.push("login");
    sim.post("/__sim/clients/login", json!({"accid": a, "clientType": "IOS"})).await;
    expected.push("login");
    sim.post("/__sim/clients/logout", json!({"accid": a, "clientType": "IOS", "logOutReason": 2})).await;
    expected.push("logout");

    let (status, body) = sim.post("/__sim/callbacks/flush", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let events = receiver.bodies();
    assert_eq!(events.len(), expected.len(), "{events:#?}");
    let found: Vec<String> = expected.iter().zip(&events).flat_map(|(kind, event)| problems(kind, event)).collect();
    assert!(found.is_empty(), "{found:#?}\n{events:#?}");

    // Values the table cannot express.
    assert_eq!(events[0]["antispam"], "true", "flagged");
    assert_eq!(events[2]["customSafeFlag"], "1", "stored offline by default");
    assert_eq!(events[3]["customSafeFlag"], "0", "save=1: online only");
    let vt: Value = serde_json::from_str(events[4]["attach"].as_str().unwrap()).unwrap();
    assert_eq!(vt, json!({"vt": 2}));
    assert_eq!(events[5]["selfMsg"], "undo");
    assert!(events[10].get("deviceId").is_none() && events[11].get("deviceId").is_none(), "no device id given");
}

#[test]
fn the_checker_notices_what_it_should() {
    let login =
        json!({"eventType": "2", "accid": "a", "clientType": "AOS", "code": 200, "timestamp": "1", "sdkVersion": "1"});
    assert_eq!(problems("login", &login), ["login: code is 200, not Str"]);
    let logout = json!({"eventType": "3", "accid": "a", "clientType": "iOS", "code": 200, "timestamp": 1, "sdkVersion": "1", "logOutReason": 1, "fromClientIp": "x"});
    assert_eq!(problems("logout", &logout), ["logout: undocumented key fromClientIp"]);
    let receipt = json!({"eventType": "30", "objects": "[{\"fromAccount\":\"r\"}]"});
    assert_eq!(problems("read receipt", &receipt).len(), 4, "four keys missing in the object");
}
