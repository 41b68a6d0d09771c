//! Black-box tests: the simulator on port 0, driven over HTTP, with a tiny callback receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{SimConfig, SimHandle, Simulator};
use crate::{sign, usersig};

// shared/providers/tencent.md §2: made with the official npm `tls-sig-api-v2` at this clock.
const NOW: u64 = 1764547200;
const ADMIN_SIG: &str = "eJw1ytEKgjAYBeB3*W8N25ZTGnTRTQm6SJKg7gZb9hPamKNW0btHWufufOe8oC538c04EMBiApOhozadxxMOrHSLHfbeKX91v0OvL8pa1CBoQsbQcfHYGhA0SxOeZIyQUU2w6L7OOWfkrz02IGAdFRiOEQv1Zls16XQubZ4-D81sJZcKJUmL**Ocy3JfyQW8Pyx6M-w_";
const BUYER_SIG: &str = "eJw1ycsKwjAQheF3mW2lJm3aNAEXXqAIggsjLqXSsY5FDWmUqvjuQqNnd77-DWa1iR-oQEMSMxgNn2q8ejrSwIf7E92e8V-r6raylmrQXLAwHoqnC4LmMheZkAljQbG35BB0zkTxt44a0BDNlulLRJmSxbY003HmrVurk6pSQn8zWC3mzZnUruzbCXy*KAYw9w__";
const TOKEN: &str = "callback-token-for-tests";

type Received = Arc<Mutex<Vec<(HashMap<String, String>, Value)>>>;

struct Fixture {
    sim: SimHandle,
    http: reqwest::Client,
    received: Received,
}

async fn receive(State(r): State<Received>, RawQuery(q): RawQuery, body: Bytes) -> Json<Value> {
    let query: HashMap<String, String> = serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.lock().unwrap().push((query, body));
    Json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}))
}

async fn start_with(f: impl FnOnce(&mut SimConfig)) -> Fixture {
    let received: Received = Arc::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", receiver.local_addr().unwrap());
    let app = Router::new().route("/cb", post(receive)).with_state(received.clone());
    tokio::spawn(async move { axum::serve(receiver, app).await });
    let mut cfg = SimConfig {
        callback_url: Some(url),
        callback_token: Some(TOKEN.into()),
        now_override: Some(NOW),
        ..SimConfig::default()
    };
    f(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(cfg, listener).await.unwrap();
    Fixture { sim, http: reqwest::Client::new(), received }
}

async fn start() -> Fixture {
    start_with(|_| {}).await
}

impl Fixture {
    async fn call_as(&self, identifier: &str, sig: &str, command: &str, body: Value) -> Value {
        let url = format!(
            "{}/v4/{command}?sdkappid=1400000001&identifier={identifier}&usersig={sig}&random=7&contenttype=json",
            self.sim.base_url()
        );
        let response = self.http.post(url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn call(&self, command: &str, body: Value) -> Value {
        self.call_as("administrator", ADMIN_SIG, command, body).await
    }

    async fn ok(&self, command: &str, body: Value) -> Value {
        let answer = self.call(command, body).await;
        assert_eq!(answer["ActionStatus"], "OK", "{command}: {answer}");
        assert!(answer["RequestId"].is_string());
        answer
    }

    async fn import(&self, ids: &[&str]) {
        for id in ids {
            self.ok("im_open_login_svc/account_import", json!({"UserID": id})).await;
        }
    }

    async fn control(&self, path: &str, body: Value) -> reqwest::Response {
        self.http.post(format!("{}/__sim/{path}", self.sim.root_url())).json(&body).send().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.http.get(format!("{}/__sim/{path}", self.sim.root_url())).send().await.unwrap().json().await.unwrap()
    }

    /// Flushes callbacks and answers what the receiver got, by command.
    async fn callbacks(&self, command: &str) -> Vec<(HashMap<String, String>, Value)> {
        assert_eq!(self.control("callbacks/flush?timeout_ms=3000", json!({})).await.status(), 200);
        let all = self.received.lock().unwrap().clone();
        all.into_iter().filter(|(q, _)| q.get("CallbackCommand").map(String::as_str) == Some(command)).collect()
    }
}

fn text(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

#[tokio::test]
async fn the_official_usersigs_log_in_and_authenticate_the_admin() {
    let f = start().await;
    let login = f.control("login", json!({"accid": "buyer_01", "token": BUYER_SIG})).await;
    assert_eq!(login.json::<Value>().await.unwrap(), json!({"ok": false, "code": 70107}));
    f.import(&["buyer_01"]).await;
    let login = f.control("login", json!({"accid": "buyer_01", "token": BUYER_SIG})).await;
    assert_eq!(login.json::<Value>().await.unwrap(), json!({"ok": true, "code": 0}));
    let other = f.control("login", json!({"accid": "buyer_02", "token": BUYER_SIG})).await;
    assert_eq!(other.json::<Value>().await.unwrap()["code"], 70013);
    // The buyer's UserSig expires after 7 days of sim clock.
    f.control("clock", json!({"advance_secs": 604_801})).await;
    let late = f.control("login", json!({"accid": "buyer_01", "token": BUYER_SIG})).await;
    assert_eq!(late.json::<Value>().await.unwrap()["code"], 70001);
}

#[tokio::test]
async fn bad_credentials_fail_with_tencents_codes_and_change_nothing() {
    let f = start().await;
    let body = json!({"UserID": "u1"});
    let cmd = "im_open_login_svc/account_import";
    assert_eq!(f.call_as("administrator", "garbage", cmd, body.clone()).await["ErrorCode"], 70003);
    let forged = usersig::generate("another-key", 1400000001, "administrator", NOW, 3600);
    let answer = f.call_as("administrator", &forged, cmd, body.clone()).await;
    assert_eq!((answer["ActionStatus"].as_str(), answer["ErrorCode"].as_i64()), (Some("FAIL"), Some(70009)));
    assert_eq!(f.call_as("buyer_01", BUYER_SIG, cmd, body.clone()).await["ErrorCode"], 70403);
    assert_eq!(f.call_as("buyer_01", ADMIN_SIG, cmd, body.clone()).await["ErrorCode"], 70013);
    let url = format!("{}/v4/{cmd}?identifier=administrator&usersig={ADMIN_SIG}", f.sim.base_url());
    let answer: Value = f.http.post(url).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["ErrorCode"], 60012);
    assert_eq!(f.call("openim/no_such_command", json!({})).await["ErrorCode"], 60009);
    assert!(f.get("accounts").await.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn account_import_is_idempotent_and_checked() {
    let f = start().await;
    f.ok("im_open_login_svc/account_import", json!({"UserID": "u1", "Nick": "One"})).await;
    f.ok("im_open_login_svc/account_import", json!({"Identifier": "u1"})).await;
    let account = f.get("accounts/u1").await;
    assert_eq!((account["user_id"].as_str(), account["nick"].as_str()), (Some("u1"), Some("One")));
    let too_long = f.call("im_open_login_svc/account_import", json!({"UserID": "x".repeat(33)})).await;
    assert_eq!(too_long["ErrorCode"], 70402);
    let checked =
        f.ok("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "u1"}, {"UserID": "u2"}]})).await;
    let statuses: Vec<&str> =
        checked["ResultItem"].as_array().unwrap().iter().map(|i| i["AccountStatus"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["Imported", "NotImported"]);
    let set =
        json!({"From_Account": "u1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Image", "Value": "https://x/y.png"}]});
    f.ok("profile/portrait_set", set).await;
    assert_eq!(f.get("accounts/u1").await["face_url"], "https://x/y.png");
    let unknown = json!({"From_Account": "u1", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nope", "Value": "v"}]});
    assert_eq!(f.call("profile/portrait_set", unknown).await["ErrorCode"], 40009);
    let calls = f.get("calls").await;
    assert_eq!(calls["im_open_login_svc/account_import"], json!({"ok": 2, "70402": 1}));
}

#[tokio::test]
async fn sendmsg_is_deduplicated_for_120_seconds() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    let send = json!({"From_Account": "a", "To_Account": "b", "MsgSeq": 9, "MsgRandom": 42, "MsgBody": text("hi")});
    let first = f.ok("openim/sendmsg", send.clone()).await;
    let again = f.ok("openim/sendmsg", send.clone()).await;
    assert_eq!((&first["MsgKey"], &first["MsgTime"]), (&again["MsgKey"], &again["MsgTime"]));
    assert_eq!(f.get("messages").await.as_array().unwrap().len(), 1);
    assert_eq!(f.get("calls").await["openim/sendmsg"], json!({"ok": 1, "duplicate": 1}));
    f.control("clock", json!({"advance_secs": 121})).await;
    let later = f.ok("openim/sendmsg", send).await;
    assert_ne!(later["MsgKey"], first["MsgKey"]);
    assert_eq!(f.get("messages").await.as_array().unwrap().len(), 2);
    let unknown = f.call("openim/sendmsg", json!({"To_Account": "zz", "MsgRandom": 1, "MsgBody": text("x")})).await;
    assert_eq!(unknown["ErrorCode"], 20003);
    let no_random = f.call("openim/sendmsg", json!({"To_Account": "b", "MsgBody": text("x")})).await;
    assert_eq!(no_random["ErrorCode"], 90005);
}

#[tokio::test]
async fn batchsendmsg_caps_recipients_and_lists_unknown_ones() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    let many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let body = json!({"From_Account": "a", "To_Account": many, "MsgRandom": 1, "MsgBody": text("x")});
    assert_eq!(f.call("openim/batchsendmsg", body).await["ErrorCode"], 90011);
    let custom = json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}", "Desc": "d", "Ext": ""}}]);
    let body = json!({"From_Account": "a", "To_Account": ["b", "ghost"], "MsgRandom": 1, "MsgBody": custom});
    let answer = f.ok("openim/batchsendmsg", body).await;
    assert_eq!(answer["ErrorList"], json!([{"To_Account": "ghost", "ErrorCode": 90012}]));
    let notifications = f.get("notifications").await;
    assert_eq!(notifications.as_array().unwrap().len(), 1);
    assert_eq!(notifications[0]["msg_key"], answer["MsgKey"]);
    assert!(f.callbacks("C2C.CallbackAfterSendMsg").await.is_empty());
}

#[tokio::test]
async fn the_rate_limit_answers_60007() {
    let f = start_with(|c| c.rate_per_second = 3).await;
    for _ in 0..3 {
        f.ok("im_open_login_svc/account_import", json!({"UserID": "u1"})).await;
    }
    let over = f.call("im_open_login_svc/account_import", json!({"UserID": "u2"})).await;
    assert_eq!(over["ErrorCode"], 60007);
    assert!(f.get("accounts/u2").await.get("code").is_some());
    tokio::time::sleep(Duration::from_millis(1050)).await;
    f.ok("im_open_login_svc/account_import", json!({"UserID": "u2"})).await;
}

#[tokio::test]
async fn sendmsg_fires_a_signed_after_send_callback() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    let send = json!({"From_Account": "a", "To_Account": "b", "MsgRandom": 5, "MsgBody": text("hello"),
        "CloudCustomData": "ccd"});
    let sent = f.ok("openim/sendmsg", send).await;
    let forbidden = json!({"From_Account": "a", "To_Account": "b", "MsgRandom": 6, "MsgBody": text("quiet"),
        "ForbidCallbackControl": ["ForbidAfterSendMsgCallback"]});
    f.ok("openim/sendmsg", forbidden).await;
    let got = f.callbacks("C2C.CallbackAfterSendMsg").await;
    assert_eq!(got.len(), 1);
    let (query, body) = &got[0];
    assert!(sign::callback_sign_matches(TOKEN, &query["RequestTime"], &query["Sign"]));
    assert_eq!((query["SdkAppid"].as_str(), query["OptPlatform"].as_str()), ("1400000001", "RESTAPI"));
    assert_eq!(query["contenttype"], "json");
    assert_eq!(body["MsgKey"], sent["MsgKey"]);
    assert_eq!(body["MsgTime"], sent["MsgTime"]);
    assert_eq!((body["From_Account"].as_str(), body["To_Account"].as_str()), (Some("a"), Some("b")));
    assert_eq!((body["SendMsgResult"].as_i64(), body["UnreadMsgNum"].as_i64()), (Some(0), Some(1)));
    assert_eq!(body["CloudCustomData"], "ccd");
    assert_eq!(body["MsgBody"], text("hello"));
}

#[tokio::test]
async fn no_unread_messages_do_not_count_and_reads_clear_the_rest() {
    let f = start().await;
    f.import(&["a", "b", "c"]).await;
    let send = |from: &str, random: u32, control: Value| {
        json!({"From_Account": from, "To_Account": "b", "MsgRandom": random, "MsgBody": text("x"),
            "SendMsgControl": control})
    };
    f.ok("openim/sendmsg", send("a", 1, json!([]))).await;
    f.ok("openim/sendmsg", send("a", 2, json!(["NoUnread", "NoLastMsg"]))).await;
    f.ok("openim/sendmsg", send("c", 3, json!([]))).await;
    let unread = f.ok("openim/get_c2c_unread_msg_num", json!({"To_Account": "b", "Peer_Account": ["a", "c"]})).await;
    assert_eq!(unread["AllC2CUnreadMsgNum"], 2);
    assert_eq!(unread["C2CUnreadMsgNumList"][0], json!({"Peer_Account": "a", "C2CUnreadMsgNum": 1}));
    f.ok("openim/admin_set_msg_read", json!({"Report_Account": "b", "Peer_Account": "a"})).await;
    let unread = f.ok("openim/get_c2c_unread_msg_num", json!({"To_Account": "b"})).await;
    assert_eq!(unread["AllC2CUnreadMsgNum"], 1);
    assert_eq!(unread["C2CUnreadMsgNumList"], json!([{"Peer_Account": "c", "C2CUnreadMsgNum": 1}]));
    let reports = f.callbacks("C2C.CallbackAfterMsgReport").await;
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].1["Report_Account"].as_str(), reports[0].1["UnreadMsgNum"].as_i64()), (Some("b"), Some(1)));
}

#[tokio::test]
async fn getroammsg_pages_newest_first_until_complete() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    for i in 0..5 {
        let from = if i % 2 == 0 { "a" } else { "b" };
        let to = if from == "a" { "b" } else { "a" };
        let body = json!({"From_Account": from, "To_Account": to, "MsgRandom": i, "MsgBody": text(&format!("m{i}"))});
        f.ok("openim/sendmsg", body).await;
    }
    let mut seen = Vec::new();
    let (mut max_time, mut last_key) = (NOW + 3600, String::new());
    for page in 0.. {
        let body = json!({"Operator_Account": "a", "Peer_Account": "b", "MaxCnt": 2, "MinTime": 0,
            "MaxTime": max_time, "LastMsgKey": last_key});
        let answer = f.ok("openim/admin_getroammsg", body).await;
        for m in answer["MsgList"].as_array().unwrap() {
            seen.push(m["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap().to_owned());
        }
        if answer["Complete"] == 1 {
            assert_eq!(page, 2);
            break;
        }
        assert_eq!(answer["MsgCnt"], 2);
        max_time = answer["LastMsgTime"].as_u64().unwrap();
        last_key = answer["LastMsgKey"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, ["m4", "m3", "m2", "m1", "m0"]);
    // The 13 KB cap: 8 KB messages come one per page.
    let big = "y".repeat(8 * 1024);
    for i in 0..2 {
        f.ok(
            "openim/sendmsg",
            json!({"From_Account": "a", "To_Account": "b", "MsgRandom": 100 + i, "MsgBody": text(&big)}),
        )
        .await;
    }
    let body = json!({"Operator_Account": "a", "Peer_Account": "b", "MaxCnt": 10, "MinTime": 0, "MaxTime": NOW + 3600});
    let answer = f.ok("openim/admin_getroammsg", body).await;
    assert_eq!((answer["MsgCnt"].as_u64(), answer["Complete"].as_u64()), (Some(1), Some(0)));
}

#[tokio::test]
async fn recall_flags_the_message_and_fires_a_callback() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    let sent = f
        .ok("openim/sendmsg", json!({"From_Account": "a", "To_Account": "b", "MsgRandom": 1, "MsgBody": text("oops")}))
        .await;
    let key = sent["MsgKey"].as_str().unwrap();
    let withdraw = json!({"From_Account": "a", "To_Account": "b", "MsgKey": key});
    f.ok("openim/admin_msgwithdraw", withdraw.clone()).await;
    assert_eq!(f.call("openim/admin_msgwithdraw", withdraw).await["ErrorCode"], 20023);
    let unknown = json!({"From_Account": "a", "To_Account": "b", "MsgKey": "1_2_3"});
    assert_eq!(f.call("openim/admin_msgwithdraw", unknown).await["ErrorCode"], 20022);
    let roam = json!({"Operator_Account": "b", "Peer_Account": "a", "MaxCnt": 10, "MinTime": 0, "MaxTime": NOW + 3600});
    assert_eq!(f.ok("openim/admin_getroammsg", roam).await["MsgList"][0]["MsgFlagBits"], 8);
    let unread = f.ok("openim/get_c2c_unread_msg_num", json!({"To_Account": "b"})).await;
    assert_eq!(unread["AllC2CUnreadMsgNum"], 0);
    let got = f.callbacks("C2C.CallbackAfterMsgWithDraw").await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].1["MsgKey"].as_str(), got[0].1["UnreadMsgNum"].as_i64()), (Some(key), Some(0)));
    // A client's recall too.
    let m = f.control("clients/message", json!({"from": "b", "to": "a", "text": "hey"})).await;
    let m: Value = m.json().await.unwrap();
    let r = f.control("clients/recall", json!({"from": "b", "to": "a", "msg_key": m["msg_key"]})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(f.callbacks("C2C.CallbackAfterMsgWithDraw").await.len(), 2);
}

#[tokio::test]
async fn client_login_and_logout_fire_state_changes() {
    let f = start().await;
    f.import(&["u1"]).await;
    assert_eq!(f.control("clients/login", json!({"accid": "u1", "platform": "iOS"})).await.status(), 200);
    let online = f.ok("openim/query_online_status", json!({"To_Account": ["u1"]})).await;
    assert_eq!(online["QueryResult"][0]["Status"], "Online");
    f.control("clients/logout", json!({"accid": "u1", "platform": "iOS"})).await;
    assert_eq!(f.control("clients/login", json!({"accid": "ghost"})).await.status(), 404);
    let got = f.callbacks("State.StateChange").await;
    assert_eq!(got.len(), 2);
    let (query, login) = &got[0];
    assert_eq!(query["OptPlatform"], "IOS");
    assert_eq!(login["Info"], json!({"Action": "Login", "To_Account": "u1", "Reason": "Register"}));
    assert!(login["EventTime"].as_u64().unwrap() >= NOW * 1000);
    assert_eq!(got[1].1["Info"]["Action"], "Logout");
}

#[tokio::test]
async fn client_messages_fire_callbacks_and_failed_sends_are_not_stored() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    let ok = f.control("clients/message", json!({"from": "a", "to": "b", "text": "hi", "platform": "iOS"})).await;
    let ok: Value = ok.json().await.unwrap();
    let failed = json!({"from": "a", "to": "b", "text": "bad word", "send_msg_result": 80001});
    assert_eq!(f.control("clients/message", failed).await.status(), 200);
    assert_eq!(f.get("messages").await.as_array().unwrap().len(), 1);
    let got = f.callbacks("C2C.CallbackAfterSendMsg").await;
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0["OptPlatform"].as_str(), got[0].1["MsgKey"].as_str()), ("iOS", ok["msg_key"].as_str()));
    assert_eq!((got[1].1["SendMsgResult"].as_i64(), got[1].1["UnreadMsgNum"].as_i64()), (Some(80001), Some(-1)));
}

#[tokio::test]
async fn faults_fail_before_any_effect_and_shuffled_callbacks_flush() {
    let f = start().await;
    let faults =
        json!({"fail_next": 1, "fail_code": 70169, "drop_next": 1, "commands": ["im_open_login_svc/account_import"]});
    assert_eq!(f.control("faults", faults).await.status(), 200);
    let url = format!(
        "{}/v4/im_open_login_svc/account_import?sdkappid=1400000001&identifier=administrator&usersig={ADMIN_SIG}",
        f.sim.base_url()
    );
    assert!(f.http.post(&url).json(&json!({"UserID": "u1"})).send().await.is_err());
    assert_eq!(f.call("im_open_login_svc/account_import", json!({"UserID": "u1"})).await["ErrorCode"], 70169);
    assert!(f.get("accounts").await.as_array().unwrap().is_empty());
    f.import(&["u1", "u2"]).await;
    f.control("callbacks/mode", json!({"shuffle": true, "duplicate": true})).await;
    for i in 0..3 {
        f.control("clients/message", json!({"from": "u1", "to": "u2", "text": format!("{i}")})).await;
    }
    assert_eq!(f.callbacks("C2C.CallbackAfterSendMsg").await.len(), 6);
    let deliveries = f.get("callbacks").await;
    assert!(deliveries.as_array().unwrap().iter().all(|d| d["state"] == "delivered" && d["attempts"] == 1));
}

#[tokio::test]
async fn dropped_callbacks_are_recorded_as_lost_and_backdated_messages_roam_in_time_order() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    f.control("callbacks/mode", json!({"drop_percent": 100})).await;
    f.control("clients/message", json!({"from": "a", "to": "b", "text": "new", "time": NOW + 10})).await;
    f.control("clients/message", json!({"from": "a", "to": "b", "text": "old", "time": NOW - 10})).await;
    assert!(f.callbacks("C2C.CallbackAfterSendMsg").await.is_empty());
    let deliveries = f.get("callbacks").await;
    assert!(deliveries.as_array().unwrap().iter().all(|d| d["state"] == "lost"));
    let body = json!({"Operator_Account": "b", "Peer_Account": "a", "MaxCnt": 10, "MinTime": 0, "MaxTime": NOW + 60});
    let answer = f.ok("openim/admin_getroammsg", body).await;
    let texts: Vec<&str> = answer["MsgList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["new", "old"]);
    assert_eq!(answer["Complete"], 1);
}

#[tokio::test]
async fn callbacks_are_attempted_once_unless_retry_mode_is_on() {
    let f = start().await;
    f.import(&["a", "b"]).await;
    // A receiver that answers 503 to its first two requests.
    let hits = Arc::new(Mutex::new(0u32));
    let flaky = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/flaky", flaky.local_addr().unwrap());
    let counter = hits.clone();
    let app = Router::new().route(
        "/flaky",
        post(move || {
            let counter = counter.clone();
            async move {
                let mut n = counter.lock().unwrap();
                *n += 1;
                if *n <= 2 {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(flaky, app).await });
    assert_eq!(f.control("callbacks/url", json!({"url": url})).await.status(), 200);
    f.control("clients/message", json!({"from": "a", "to": "b", "text": "once"})).await;
    f.control("callbacks/flush", json!({})).await;
    f.control("callbacks/mode", json!({"retry": true})).await;
    f.control("clients/message", json!({"from": "a", "to": "b", "text": "retried"})).await;
    f.control("callbacks/flush", json!({})).await;
    let deliveries = f.get("callbacks").await;
    let summary: Vec<(&str, u64, u64)> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["state"].as_str().unwrap(), d["attempts"].as_u64().unwrap(), d["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(summary, [("failed", 1, 503), ("delivered", 2, 200)]);
    assert!(deliveries[1]["query"].as_str().unwrap().contains("Sign="));
}
