//! The client against a fake Tencent (wiremock): the envelope, errors and request shapes the
//! simulator cannot produce or does not show.

use std::collections::HashMap;
use std::time::Duration;

use imbridge_provider::ProviderError;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

const KEY: &str = "imbridge-test-key-5bd2850fff3ecb11d7c805251c51ee46";
const APP: u64 = 1400000001;

fn client(server: &MockServer) -> TencentClient {
    let mut cfg = TencentConfig::new(format!("{}/", server.uri()), APP, KEY);
    cfg.request_timeout = Duration::from_millis(500);
    TencentClient::new(&cfg).unwrap()
}

fn ok(extra: Value) -> ResponseTemplate {
    let mut body = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn fail(code: i64, info: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info, "RequestId": "req-1"}))
}

async fn mount(server: &MockServer, endpoint: &str, response: ResponseTemplate) {
    Mock::given(method("POST")).and(path(format!("/v4/{endpoint}"))).respond_with(response).mount(server).await;
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn query(request: &wiremock::Request) -> HashMap<String, String> {
    request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn msg() -> SendMsg {
    SendMsg {
        from: Some("alice".into()),
        to: "bob".into(),
        msg_seq: 41,
        msg_random: 4242,
        body: json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{\"k\":1}", "Desc": "d", "Ext": ""}}]),
        ..SendMsg::default()
    }
}

#[tokio::test]
async fn query_string_carries_the_admin_credentials() {
    let server = MockServer::start().await;
    mount(&server, "openim/sendmsg", ok(json!({"MsgTime": 1764547200, "MsgKey": "k-1"}))).await;
    let c = client(&server);
    let sent = c.send_msg(&msg()).await.unwrap();
    assert_eq!(sent, SentMsg { msg_time: 1764547200, msg_key: "k-1".into() });
    c.send_msg(&msg()).await.unwrap();

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    let (q1, q2) = (query(&reqs[0]), query(&reqs[1]));
    assert_eq!(q1["sdkappid"], APP.to_string());
    assert_eq!(q1["identifier"], "administrator");
    assert_eq!(q1["contenttype"], "json");
    q1["random"].parse::<u32>().expect("random is a u32");
    let info = crate::usersig::verify(KEY, APP, &q1["usersig"], now_secs()).expect("the admin UserSig verifies");
    assert_eq!(info.identifier, "administrator");
    // Cached: the second call carries the same UserSig.
    assert_eq!(q1["usersig"], q2["usersig"]);
    assert_eq!(reqs[0].url.path(), "/v4/openim/sendmsg");
}

#[tokio::test]
async fn send_msg_body_carries_the_controls() {
    let server = MockServer::start().await;
    mount(&server, "openim/sendmsg", ok(json!({"MsgTime": "1764547200", "MsgKey": "k"}))).await;
    let c = client(&server);
    let m = SendMsg {
        no_unread: true,
        no_last_msg: true,
        forbid_after_callback: true,
        online_only: true,
        cloud_custom_data: Some("ccd".into()),
        offline_push_desc: Some("push".into()),
        ..msg()
    };
    c.send_msg(&m).await.unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    assert_eq!(body["SendMsgControl"], json!(["NoUnread", "NoLastMsg"]));
    assert_eq!(body["ForbidCallbackControl"], json!(["ForbidAfterSendMsgCallback"]));
    assert_eq!(body["MsgLifeTime"], 0);
    assert_eq!((body["MsgSeq"].as_u64(), body["MsgRandom"].as_u64()), (Some(41), Some(4242)));
    assert_eq!((body["From_Account"].as_str(), body["To_Account"].as_str()), (Some("alice"), Some("bob")));
    assert_eq!(body["SyncOtherMachine"], 2);
    assert_eq!(body["CloudCustomData"], "ccd");
    assert_eq!(body["OfflinePushInfo"]["Desc"], "push");
    assert_eq!(body["MsgBody"], m.body);
}

#[tokio::test]
async fn fail_envelope_is_an_api_error() {
    let server = MockServer::start().await;
    mount(&server, "openim/sendmsg", fail(70402, "param error")).await;
    let err = client(&server).send_msg(&msg()).await.unwrap_err();
    let TencentError::Api { code, ref info, ref request_id } = err else { panic!("expected Api, got {err:?}") };
    assert_eq!((code, info.as_str(), request_id.as_deref()), (70402, "param error", Some("req-1")));
    assert!(!err.is_retryable());
    assert!(matches!(ProviderError::from(err), ProviderError::Rejected { code: 70402, .. }));
}

#[tokio::test]
async fn nonzero_code_with_ok_status_is_an_api_error() {
    let server = MockServer::start().await;
    mount(
        &server,
        "openim/admin_msgwithdraw",
        ResponseTemplate::new(200).set_body_json(json!({"ActionStatus": "OK", "ErrorCode": "20003"})),
    )
    .await;
    let err = client(&server).admin_msg_withdraw("a", "b", "k").await.unwrap_err();
    assert_eq!(err.code(), Some(20003));
}

#[tokio::test]
async fn rate_limit_and_internal_error() {
    let server = MockServer::start().await;
    mount(&server, "openim/sendmsg", fail(60007, "too many calls")).await;
    mount(&server, "openim/admin_set_msg_read", fail(70500, "internal")).await;
    let c = client(&server);
    let err = c.send_msg(&msg()).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(matches!(
        ProviderError::from(err),
        ProviderError::RateLimited { code: 60007, retry_after } if retry_after == Duration::from_secs(1)
    ));
    let err = c.admin_set_msg_read("a", "b", Some(1764547200)).await.unwrap_err();
    assert!(err.is_retryable());
    let provider = ProviderError::from(err);
    assert!(matches!(provider, ProviderError::Unavailable(_)) && provider.is_transient());
    let body: Value = requests(&server).await[1].body_json().unwrap();
    assert_eq!(body, json!({"Report_Account": "a", "Peer_Account": "b", "MsgReadTime": 1764547200}));
}

#[tokio::test]
async fn http_502_garbage_and_timeout() {
    let server = MockServer::start().await;
    mount(&server, "openim/sendmsg", ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>")).await;
    mount(&server, "openim/admin_msgwithdraw", ResponseTemplate::new(200).set_body_string("not json")).await;
    mount(&server, "openim/query_online_status", ok(json!({})).set_delay(Duration::from_secs(3))).await;
    let c = client(&server);

    let err = c.send_msg(&msg()).await.unwrap_err();
    assert!(matches!(err, TencentError::Http { status: 502, ref body } if body.contains("bad gateway")), "{err:?}");
    assert!(matches!(ProviderError::from(err), ProviderError::Unavailable(_)));

    let err = c.admin_msg_withdraw("a", "b", "k").await.unwrap_err();
    assert!(matches!(err, TencentError::Decode(_)), "{err:?}");

    let err = c.query_online_status(&["a"]).await.unwrap_err();
    assert!(matches!(err, TencentError::Timeout), "{err:?}");
    assert!(matches!(ProviderError::from(err), ProviderError::Unavailable(_)));
}

#[tokio::test]
async fn oversized_batches_never_leave() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ok(json!({}))).expect(0).mount(&server).await;
    let c = client(&server);
    let to: Vec<String> = (0..501).map(|i| format!("user{i}")).collect();
    let err = c.batch_send_msg(&msg(), &to).await.unwrap_err();
    assert!(matches!(err, TencentError::Invalid(ref f) if f.field == "to"), "{err:?}");
    let peers: Vec<String> = (0..11).map(|i| format!("p{i}")).collect();
    let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
    assert!(matches!(c.c2c_unread("a", &peers).await, Err(TencentError::Invalid(_))));
    let many = vec!["u"; 101];
    assert!(matches!(c.account_check(&many).await, Err(TencentError::Invalid(_))));
    let long = "x".repeat(33);
    assert!(matches!(c.account_import(&long, None, None).await, Err(TencentError::Invalid(_))));
    assert!(matches!(c.call("openim/../x", &json!({})).await, Err(TencentError::Invalid(_))));
    server.verify().await;
}

#[tokio::test]
async fn batch_reports_failed_recipients() {
    let server = MockServer::start().await;
    mount(
        &server,
        "openim/batchsendmsg",
        ok(json!({"MsgKey": "bk", "ErrorList": [{"To_Account": "ghost", "ErrorCode": 70107}]})),
    )
    .await;
    let sent = client(&server).batch_send_msg(&msg(), &["bob".into(), "ghost".into()]).await.unwrap();
    assert_eq!(sent, BatchSent { msg_key: Some("bk".into()), failed: vec![("ghost".into(), 70107)] });
    let body: Value = requests(&server).await[0].body_json().unwrap();
    assert_eq!(body["To_Account"], json!(["bob", "ghost"]));
}

#[tokio::test]
async fn roam_page_over_the_wire() {
    let server = MockServer::start().await;
    let reply = json!({"Complete": 1, "MsgCnt": 1, "LastMsgTime": 1764547200, "LastMsgKey": "k1", "MsgList": [
        {"From_Account": "a", "To_Account": "b", "MsgSeq": 1, "MsgRandom": 2, "MsgTimeStamp": 1764547200,
         "MsgKey": "k1", "MsgFlagBits": 8, "IsPeerRead": 0, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]}]});
    mount(&server, "openim/admin_getroammsg", ok(reply)).await;
    let q = RoamQuery {
        operator: "a".into(),
        peer: "b".into(),
        max_cnt: 100,
        min_time: 0,
        max_time: 1764547300,
        last_msg_key: Some("k0".into()),
    };
    let page = client(&server).admin_get_roam_msg(&q).await.unwrap();
    assert!(page.complete);
    assert_eq!(page.msgs.len(), 1);
    assert!(page.msgs[0].recalled && !page.msgs[0].peer_read);
    let body: Value = requests(&server).await[0].body_json().unwrap();
    assert_eq!(body["LastMsgKey"], "k0");
    assert_eq!(body["Operator_Account"], "a");
}

#[tokio::test]
async fn accounts_friends_unread_presence() {
    let server = MockServer::start().await;
    mount(&server, "im_open_login_svc/account_import", ok(json!({}))).await;
    mount(
        &server,
        "im_open_login_svc/account_check",
        ok(json!({"ResultItem": [
        {"UserID": "a", "ResultCode": 0, "ResultInfo": "", "AccountStatus": "Imported"},
        {"UserID": "b", "ResultCode": 0, "ResultInfo": "", "AccountStatus": "NotImported"}]})),
    )
    .await;
    mount(&server, "sns/friend_add", ok(json!({"ResultItem": [{"To_Account": "b", "ResultCode": 30001, "ResultInfo": "Err_SNS_FriendAdd_Friend_Exist"}]}))).await;
    mount(
        &server,
        "sns/friend_delete",
        ok(json!({"ResultItem": [{"To_Account": "b", "ResultCode": 30006, "ResultInfo": "internal"}]})),
    )
    .await;
    mount(
        &server,
        "openim/get_c2c_unread_msg_num",
        ok(json!({"AllC2CUnreadMsgNum": 12, "C2CUnreadMsgNumList": [{"Peer_Account": "b", "C2CUnreadMsgNum": "3"}]})),
    )
    .await;
    mount(&server, "openim/query_online_status", ok(json!({"QueryResult": [{"To_Account": "a", "Status": "Online"}], "ErrorList": [{"To_Account": "z", "ErrorCode": 70107}]}))).await;
    mount(&server, "profile/portrait_set", ok(json!({}))).await;
    let c = client(&server);

    c.account_import("a", Some("Alice"), None).await.unwrap();
    assert_eq!(c.account_check(&["a", "b"]).await.unwrap(), vec![("a".into(), true), ("b".into(), false)]);
    c.friend_add_both("a", "b").await.unwrap();
    let err = c.friend_delete_both("a", "b").await.unwrap_err();
    assert_eq!(err.code(), Some(30006));
    let unread = c.c2c_unread("a", &["b"]).await.unwrap();
    assert_eq!(unread, C2cUnread { total: Some(12), per_peer: vec![("b".into(), 3)] });
    assert_eq!(c.query_online_status(&["a", "z"]).await.unwrap(), vec![("a".into(), "Online".into())]);
    c.portrait_set("a", &[("Tag_Profile_IM_Nick", json!("Alice"))]).await.unwrap();

    let reqs = requests(&server).await;
    let bodies: Vec<Value> = reqs.iter().map(|r| r.body_json().unwrap()).collect();
    assert_eq!(bodies[0], json!({"UserID": "a", "Nick": "Alice"}));
    assert_eq!(bodies[1], json!({"CheckItem": [{"UserID": "a"}, {"UserID": "b"}]}));
    assert_eq!(
        bodies[2],
        json!({"From_Account": "a", "AddFriendItem": [{"To_Account": "b", "AddSource": "AddSource_Type_Server"}],
               "AddType": "Add_Type_Both", "ForceAddFlags": 1})
    );
    assert_eq!(bodies[3], json!({"From_Account": "a", "To_Account": ["b"], "DeleteType": "Delete_Type_Both"}));
    assert_eq!(bodies[4], json!({"To_Account": "a", "Peer_Account": ["b"]}));
    assert_eq!(
        bodies[6],
        json!({"From_Account": "a", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "Alice"}]})
    );
}

#[test]
fn admin_usersig_is_cached_then_renewed() {
    let cfg = TencentConfig::new("http://127.0.0.1:9", APP, KEY);
    let c = TencentClient::new(&cfg).unwrap();
    let t0 = 1_764_547_200;
    let first = c.admin_usersig_at(t0);
    assert_eq!(c.admin_usersig_at(t0 + 60), first);
    let ttl = sig::ADMIN_USERSIG_TTL;
    assert_eq!(c.admin_usersig_at(t0 + ttl - ttl / 10 - 1), first);
    let renewed = c.admin_usersig_at(t0 + ttl - ttl / 10);
    assert_ne!(renewed, first);
    let info = crate::usersig::verify(KEY, APP, &renewed, t0 + ttl).unwrap();
    assert_eq!((info.identifier.as_str(), info.time, info.expire), ("administrator", t0 + ttl - ttl / 10, ttl));
    // A clone shares the cache.
    assert_eq!(c.clone().admin_usersig_at(t0 + ttl - ttl / 10 + 5), renewed);
}

#[test]
fn config_is_checked() {
    let bad = |f: fn(&mut TencentConfig)| {
        let mut cfg = TencentConfig::new("http://127.0.0.1:9/", APP, KEY);
        f(&mut cfg);
        match TencentClient::new(&cfg) {
            Err(TencentError::Invalid(field)) => field.field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    };
    assert_eq!(bad(|c| c.base_url = "not a url".into()), "base_url");
    assert_eq!(bad(|c| c.sdkappid = 0), "sdkappid");
    assert_eq!(bad(|c| c.secret_key = String::new().into()), "secret_key");
    assert_eq!(bad(|c| c.admin = String::new()), "admin");
    assert_eq!(bad(|c| c.rate_per_second = 0), "rate_per_second");
    let c = TencentClient::new(&TencentConfig::new("http://127.0.0.1:9/", APP, KEY)).unwrap();
    assert_eq!((c.base_url(), c.sdkappid(), c.admin()), ("http://127.0.0.1:9", APP, "administrator"));
}

#[test]
fn envelope_rules() {
    assert!(decode(200, br#"{"ActionStatus":"OK","ErrorCode":0}"#).is_ok());
    assert!(decode(200, br#"{"ActionStatus":"OK"}"#).is_ok());
    assert!(matches!(decode(200, br#"{"ActionStatus":"FAIL"}"#), Err(TencentError::Api { code: -1, .. })));
    assert!(matches!(
        decode(200, br#"{"ErrorCode":"70169","ErrorInfo":"t"}"#),
        Err(TencentError::Api { code: 70169, .. })
    ));
    assert!(matches!(decode(200, br#"{"foo":1}"#), Err(TencentError::Decode(_))));
    assert!(matches!(decode(200, br#"[1]"#), Err(TencentError::Decode(_))));
    let HttpParts { status, body } = http_err(decode(503, "x".repeat(5000).as_bytes()));
    assert_eq!((status, body.len()), (503, HTTP_BODY_KEPT));
}

struct HttpParts {
    status: u16,
    body: String,
}

fn http_err(r: Result<Value, TencentError>) -> HttpParts {
    match r {
        Err(TencentError::Http { status, body }) => HttpParts { status, body },
        other => panic!("expected Http, got {other:?}"),
    }
}

#[tokio::test]
async fn the_client_side_quota_spaces_calls() {
    let server = MockServer::start().await;
    mount(&server, "openim/admin_msgwithdraw", ok(json!({}))).await;
    let mut cfg = TencentConfig::new(server.uri(), APP, KEY);
    cfg.rate_per_second = 1;
    let c = TencentClient::new(&cfg).unwrap();
    let started = std::time::Instant::now();
    c.admin_msg_withdraw("a", "b", "k1").await.unwrap();
    c.clone().admin_msg_withdraw("a", "b", "k2").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_ok_reply_missing_what_we_need_is_a_decode_error() {
    let server = MockServer::start().await;
    mount(&server, "openim/sendmsg", ok(json!({"MsgTime": 1}))).await;
    let err = client(&server).send_msg(&msg()).await.unwrap_err();
    assert!(matches!(err, TencentError::Decode(ref d) if d.contains("MsgKey")), "{err:?}");
}
