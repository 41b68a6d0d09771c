//! What the client puts on the wire: NetEase's auth headers, a RequestId, a form body with list
//! parameters as JSON arrays (shared/providers/netease.md §1 and the §4 user/create example).

use std::time::Duration;

use imbridge_netease::sign::{self, api_checksum};
use imbridge_netease::{BatchAttachMsg, Conv, CreateUser, Delivery, NeteaseClient, NeteaseConfig, Save, SendMsg};
use imbridge_provider::Profile;
use serde_json::json;
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "wire-key";
const SECRET: &str = "wire-secret";

fn client_for(server: &MockServer) -> NeteaseClient {
    NeteaseClient::new(NeteaseConfig::new(format!("{}/nimserver/", server.uri()), KEY, SECRET)).unwrap()
}

fn form(request: &Request) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&request.body).unwrap()
}

fn header_of<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
}

#[tokio::test]
async fn user_create_is_signed_and_form_encoded_like_the_documented_example() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/nimserver/user/create.action"))
        .and(header("AppKey", KEY))
        .and(header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8"))
        .and(body_string("accid=zhangsan&name=zhangsan"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 200, "info": {"accid": "zhangsan", "token": "t-1", "name": "zhangsan"}})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let req = CreateUser {
        accid: "ZhangSan".into(),
        profile: Profile { name: Some("zhangsan".into()), ..Profile::default() },
        ..CreateUser::default()
    };
    let created = client.create_user(&req, Some("op-42")).await.unwrap();
    assert_eq!((created.accid.as_str(), created.token.as_str()), ("zhangsan", "t-1"));
    client.create_user(&req, None).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let now = sign::now_secs();
    for request in &requests {
        let (nonce, cur_time) = (header_of(request, "Nonce"), header_of(request, "CurTime"));
        assert!(!nonce.is_empty() && nonce.len() <= 128);
        let secs: u64 = cur_time.parse().expect("CurTime is whole seconds");
        assert!(now.abs_diff(secs) <= 5, "CurTime {secs} is seconds, now {now}");
        assert_eq!(header_of(request, "CheckSum"), api_checksum(SECRET, nonce, cur_time));
    }
    assert_ne!(header_of(&requests[0], "Nonce"), header_of(&requests[1], "Nonce"), "a new Nonce per request");
    assert_eq!(header_of(&requests[0], "RequestId"), "op-42", "the caller's RequestId is sent as given");
    let generated = header_of(&requests[1], "RequestId");
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "a UUID when none is given: {generated}");
}

#[tokio::test]
async fn batch_notifications_carry_lists_as_json_and_the_delivery_options() {
    let server = MockServer::start().await;
    Mock::given(path("/nimserver/msg/sendBatchAttachMsg.action"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200, "unregister": ["b2"]})))
        .expect(1)
        .mount(&server)
        .await;
    let msg = BatchAttachMsg {
        from_accid: "Shop_1".into(),
        to_accids: vec!["B1".into(), "b2".into()],
        attach: r#"{"order":"o-1"}"#.into(),
        delivery: Delivery {
            pushcontent: Some("Shipped".into()),
            payload: Some(r#"{"k":1}"#.into()),
            sound: Some("ding".into()),
            save: Save::OnlineOnly,
            option: Some(imbridge_netease::AttachOption { badge: false, route: true }),
        },
    };
    let sent = client_for(&server).send_batch_attach_msg(&msg, None).await.unwrap();
    assert_eq!(sent.unregister, vec!["b2".to_string()]);

    let request = &server.received_requests().await.unwrap()[0];
    let fields = form(request);
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("fromAccid"), Some("shop_1"));
    assert_eq!(get("toAccids"), Some(r#"["b1","b2"]"#));
    assert_eq!(get("attach"), Some(r#"{"order":"o-1"}"#));
    assert_eq!(get("pushcontent"), Some("Shipped"));
    assert_eq!(get("payload"), Some(r#"{"k":1}"#));
    assert_eq!(get("sound"), Some("ding"));
    assert_eq!(get("save"), Some("1"));
    let option: serde_json::Value = serde_json::from_str(get("option").unwrap()).unwrap();
    assert_eq!(option, json!({"badge": false, "route": true}));
}

#[tokio::test]
async fn the_client_waits_for_a_permit_instead_of_exceeding_its_quota() {
    let server = MockServer::start().await;
    Mock::given(path("/nimserver/user/unblock.action"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200})))
        .expect(3)
        .mount(&server)
        .await;
    let mut cfg = NeteaseConfig::new(format!("{}/nimserver", server.uri()), KEY, SECRET);
    cfg.limits.per_second = 2;
    let client = NeteaseClient::new(cfg).unwrap();
    let clone = client.clone();
    let start = std::time::Instant::now();
    let (a, b, c) =
        tokio::join!(client.unblock_user("a", None), clone.unblock_user("b", None), client.unblock_user("c", None));
    a.unwrap();
    b.unwrap();
    c.unwrap();
    // Two permits per second: the third call cannot start before the first permit is a second old.
    assert!(start.elapsed() >= Duration::from_millis(990), "{:?}", start.elapsed());
}

#[tokio::test]
async fn a_desc_beside_code_200_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/nimserver/msg/sendMsg.action"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": 200,
            "desc": "yidun: suspected",
            "data": {"msgid": 1_200_510_468_189_u64, "timetag": 1_545_635_366_312_u64, "antispam": true}
        })))
        .mount(&server)
        .await;
    let sent = client_for(&server).send_msg(&SendMsg::text("a", Conv::P2p, "b", "hi"), None).await.unwrap();
    assert_eq!(sent.msgid, "1200510468189");
    assert_eq!((sent.desc.as_deref(), sent.antispam), (Some("yidun: suspected"), Some(true)));
}
