//! msg/*: custom notifications (single and batch) and chat messages.

use serde_json::{json, Value};

use crate::helpers::{unique, Sim};

/// `form` with some fields replaced or added.
fn with<'a>(form: &[(&'static str, &'a str)], changes: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
    let mut out: Vec<_> = form.iter().filter(|(k, _)| !changes.iter().any(|(c, _)| c == k)).copied().collect();
    out.extend_from_slice(changes);
    out
}

async fn accounts(sim: &Sim, n: usize) -> Vec<String> {
    let mut out = vec![];
    for _ in 0..n {
        let accid = unique("m");
        sim.create(&accid).await;
        out.push(accid);
    }
    out
}

#[tokio::test]
async fn send_attach_msg_records_every_field() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 2).await;
    let (from, to) = (&ids[0], &ids[1]);
    let form = [
        ("from", from.as_str()),
        ("msgtype", "0"),
        ("to", &to.to_uppercase()),
        ("attach", r#"{"type":"shipped","order":"o1"}"#),
        ("pushcontent", "Your parcel has shipped"),
        ("payload", r#"{"order":"o1"}"#),
        ("sound", "ding.aac"),
        ("save", "1"),
        ("option", r#"{"badge":true,"needPushNick":false,"route":true}"#),
    ];
    let reply = sim.call_with_id("msg/sendAttachMsg", &form, Some("req-1")).await;
    assert_eq!(reply, json!({"code": 200}));

    let notes = sim.get("/__sim/notifications").await;
    let notes = notes.as_array().unwrap();
    assert_eq!(notes.len(), 1);
    let n = &notes[0];
    assert_eq!(n["api"], "msg/sendAttachMsg");
    assert_eq!((n["from"].as_str(), n["to"].as_str()), (Some(from.as_str()), Some(to.as_str())));
    assert_eq!(n["msgtype"], 0);
    assert_eq!(n["attach"], r#"{"type":"shipped","order":"o1"}"#);
    assert_eq!(n["pushcontent"], "Your parcel has shipped");
    assert_eq!(n["payload"], r#"{"order":"o1"}"#);
    assert_eq!(n["sound"], "ding.aac");
    assert_eq!(n["save"], 1);
    assert_eq!(n["option"], r#"{"badge":true,"needPushNick":false,"route":true}"#);
    assert_eq!(n["request_id"], "req-1");
}

#[tokio::test]
async fn send_attach_msg_validates_like_netease() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 2).await;
    let (from, to) = (ids[0].as_str(), ids[1].as_str());
    let big_attach = "a".repeat(4097);
    let big_payload = format!("{{\"k\":\"{}\"}}", "p".repeat(2048));
    let long_push = "p".repeat(501);
    let long_sound = "s".repeat(31);
    let base = [("from", from), ("msgtype", "0"), ("to", to), ("attach", "{}")];
    let cases = [
        with(&base, &[("msgtype", "2")]),
        with(&base, &[("attach", "")]),
        with(&base, &[("attach", &big_attach)]),
        with(&base, &[("payload", "not json")]),
        with(&base, &[("payload", &big_payload)]),
        with(&base, &[("pushcontent", &long_push)]),
        with(&base, &[("sound", &long_sound)]),
        with(&base, &[("save", "3")]),
        with(&base, &[("option", "{bad")]),
        with(&base, &[("to", "ghost")]),
        with(&base, &[("from", "ghost")]),
    ];
    for form in cases {
        let reply = sim.call("msg/sendAttachMsg", &form).await;
        assert_eq!(reply["code"], 414, "{form:?}: {reply}");
    }
    assert!(sim.state().notifications().is_empty(), "refused calls deliver nothing");
    // Exactly at the limits is fine.
    let attach = "a".repeat(4096);
    let reply = sim.call("msg/sendAttachMsg", &with(&base, &[("attach", &attach)])).await;
    assert_eq!(reply["code"], 200, "{reply}");
}

#[tokio::test]
async fn team_notifications_go_to_the_team_id() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 1).await;
    let reply =
        sim.call("msg/sendAttachMsg", &[("from", &ids[0]), ("msgtype", "1"), ("to", "123456"), ("attach", "x")]).await;
    assert_eq!(reply["code"], 200);
    let notes = sim.state().notifications();
    assert_eq!((notes[0].to.as_str(), notes[0].msgtype), ("123456", 1));
    let long = "1".repeat(33);
    let reply =
        sim.call("msg/sendAttachMsg", &[("from", &ids[0]), ("msgtype", "1"), ("to", &long), ("attach", "x")]).await;
    assert_eq!(reply["code"], 414, "team ids are at most 32 characters: {reply}");
}

#[tokio::test]
async fn batch_delivers_to_registered_and_names_the_unregistered() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 3).await;
    let to = json!([ids[1].to_uppercase(), "ghost_1", ids[2], "bad id"]).to_string();
    let form = [("fromAccid", ids[0].as_str()), ("toAccids", to.as_str()), ("attach", "{\"n\":1}"), ("save", "2")];
    let reply = sim.call("msg/sendBatchAttachMsg", &form).await;
    assert_eq!(reply["code"], 200);
    assert_eq!(reply["unregister"], json!(["ghost_1", "bad id"]));
    let recipients: Vec<String> = sim.state().notifications().into_iter().map(|n| n.to).collect();
    assert_eq!(recipients, [ids[1].clone(), ids[2].clone()]);
    assert!(sim.state().notifications().iter().all(|n| n.api == "msg/sendBatchAttachMsg" && n.save == 2));
}

#[tokio::test]
async fn batch_takes_at_most_500_recipients() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 2).await;
    let mut to: Vec<String> = (0..499).map(|i| format!("nobody{i}")).collect();
    to.push(ids[1].clone());
    let list = serde_json::to_string(&to).unwrap();
    let reply =
        sim.call("msg/sendBatchAttachMsg", &[("fromAccid", &ids[0]), ("toAccids", &list), ("attach", "x")]).await;
    assert_eq!(reply["code"], 200);
    assert_eq!(reply["unregister"].as_array().unwrap().len(), 499);

    to.push("one_more".to_owned());
    let list = serde_json::to_string(&to).unwrap();
    let reply =
        sim.call("msg/sendBatchAttachMsg", &[("fromAccid", &ids[0]), ("toAccids", &list), ("attach", "x")]).await;
    assert_eq!(reply["code"], 419, "{reply}");
    assert_eq!(sim.state().notifications().len(), 1, "the refused batch delivered nothing");

    let reply =
        sim.call("msg/sendBatchAttachMsg", &[("fromAccid", &ids[0]), ("toAccids", "[]"), ("attach", "x")]).await;
    assert_eq!(reply["code"], 414);
}

#[tokio::test]
async fn send_msg_answers_a_unique_msgid() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 2).await;
    let form =
        [("from", ids[0].as_str()), ("ope", "0"), ("to", ids[1].as_str()), ("type", "0"), ("body", r#"{"msg":"hi"}"#)];
    let first = sim.call("msg/sendMsg", &form).await;
    let second = sim.call("msg/sendMsg", &form).await;
    assert_eq!(first["code"], 200, "{first}");
    assert_eq!(first["data"]["antispam"], false);
    assert!(first["data"]["timetag"].as_u64().unwrap() > 1_600_000_000_000);
    let (m1, m2) = (first["data"]["msgid"].as_u64().unwrap(), second["data"]["msgid"].as_u64().unwrap());
    assert_ne!(m1, m2);
    let messages = sim.state().messages();
    assert_eq!(messages.len(), 2);
    assert_eq!((messages[0].msg_type.as_str(), messages[0].body.as_str()), ("TEXT", "hi"));
    assert_eq!(messages[0].conv_type, "PERSON");

    let bad = [
        with(&form, &[("ope", "2")]),
        with(&form, &[("type", "99")]),
        with(&form, &[("body", "hi")]),
        with(&form, &[("body", r#"{"text":"no msg"}"#)]),
        with(&form, &[("to", "ghost")]),
    ];
    for f in bad {
        let reply = sim.call("msg/sendMsg", &f).await;
        assert_eq!(reply["code"], 414, "{f:?}: {reply}");
    }
    assert_eq!(sim.state().messages().len(), 2);
}

#[tokio::test]
async fn send_batch_msg_reports_msgids_and_unregister() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 2).await;
    let to = json!([ids[1], "ghost"]).to_string();
    let form = [("fromAccid", ids[0].as_str()), ("toAccids", to.as_str()), ("type", "100"), ("body", r#"{"k":1}"#)];
    let reply = sim.call("msg/sendBatchMsg", &form).await;
    assert_eq!(reply["code"], 200, "{reply}");
    assert_eq!(reply["unregister"], json!(["ghost"]));
    assert!(reply["msgids"][ids[1].as_str()].is_u64());
    let m = &sim.state().messages()[0];
    assert_eq!((m.msg_type.as_str(), m.attach.as_str(), m.body.as_str()), ("CUSTOM", r#"{"k":1}"#, ""));
}

async fn recall(sim: &Sim, msgid: &str, timetag: &str, from: &str, to: &str) -> Value {
    let form = [("deleteMsgid", msgid), ("timetag", timetag), ("type", "7"), ("from", from), ("to", to)];
    sim.call("msg/recall", &form).await
}

#[tokio::test]
async fn recall_marks_a_known_message() {
    let sim = Sim::start().await;
    let ids = accounts(&sim, 2).await;
    let (a, b) = (ids[0].as_str(), ids[1].as_str());
    let form = [("from", a), ("ope", "0"), ("to", b), ("type", "0"), ("body", r#"{"msg":"oops"}"#)];
    let sent = sim.call("msg/sendMsg", &form).await;
    let msgid = sent["data"]["msgid"].as_u64().unwrap().to_string();
    let timetag = sent["data"]["timetag"].as_u64().unwrap().to_string();

    let reply = recall(&sim, &msgid, &timetag, b, a).await;
    assert_eq!(reply["code"], 414, "only the sender recalls, towards its receiver: {reply}");
    let reply = recall(&sim, "12345", &timetag, a, b).await;
    assert_eq!(reply["code"], 404, "{reply}");
    assert!(!sim.state().messages()[0].recalled);
    let reply = recall(&sim, &msgid, &timetag, a, b).await;
    assert_eq!(reply, json!({"code": 200}));
    assert!(sim.state().messages()[0].recalled);
}
