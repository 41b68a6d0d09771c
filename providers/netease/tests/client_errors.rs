//! Client failure paths the simulator cannot produce, against a scripted HTTP server (wiremock).

use std::time::{Duration, Instant};

use imbridge_netease::{
    BatchAttachMsg, Conv, CreateUser, Delivery, NeteaseClient, NeteaseConfig, NeteaseError, SendMsg,
};
use imbridge_provider::Profile;
use serde_json::json;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client_for(server: &MockServer) -> NeteaseClient {
    let mut cfg = NeteaseConfig::new(format!("{}/nimserver", server.uri()), "test-key", "test-secret");
    cfg.request_timeout = Duration::from_millis(500);
    NeteaseClient::new(cfg).unwrap()
}

fn create(accid: &str) -> CreateUser {
    CreateUser { accid: accid.into(), ..CreateUser::default() }
}

fn batch(recipients: usize) -> BatchAttachMsg {
    BatchAttachMsg {
        from_accid: "shop_1".into(),
        to_accids: (0..recipients).map(|i| format!("buyer_{i}")).collect(),
        attach: r#"{"type":"shipped"}"#.into(),
        delivery: Delivery::default(),
    }
}

#[tokio::test]
async fn a_gateway_error_page_is_an_http_error_with_its_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/nimserver/user/create.action"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html><body>502 Bad Gateway</body></html>"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client_for(&server).create_user(&create("a"), None).await.unwrap_err();
    let NeteaseError::Http { status, body } = err else { panic!("expected Http, got {err:?}") };
    assert_eq!(status, 502);
    assert!(body.contains("502 Bad Gateway"), "{body}");
}

#[tokio::test]
async fn a_200_that_is_not_json_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200).set_body_string("OK")).mount(&server).await;
    let err = client_for(&server).refresh_token("a", None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn a_success_code_with_the_wrong_shape_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200, "info": {"accid": "a"}})))
        .mount(&server)
        .await;
    let err = client_for(&server).refresh_token("a", None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Decode(ref d) if d.contains("token")), "{err:?}");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200})).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let err = client_for(&server).unblock_user("a", None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Timeout), "{err:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client =
        NeteaseClient::new(NeteaseConfig::new(format!("http://127.0.0.1:{port}/nimserver"), "k", "s")).unwrap();
    let err = client.unblock_user("a", None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn frequency_control_blocks_the_class_without_further_requests() {
    let server = MockServer::start().await;
    Mock::given(path("/nimserver/user/create.action"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 416, "desc": "frequency control"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/nimserver/msg/sendBatchAttachMsg.action"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200, "unregister": "[\"buyer_1\"]"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let before = Instant::now();

    let err = client.create_user(&create("a"), None).await.unwrap_err();
    let NeteaseError::Blocked { until, code } = err else { panic!("expected Blocked, got {err:?}") };
    assert_eq!(code, 416);
    assert!(until >= before + Duration::from_secs(10), "per-second APIs are blocked for 10 s");

    // Every clone shares the block; other per-second endpoints fail at once, without a request.
    let clone = client.clone();
    for err in [
        clone.create_user(&create("b"), None).await.unwrap_err(),
        clone.unblock_user("b", None).await.unwrap_err(),
        clone.send_msg(&SendMsg::text("a", Conv::P2p, "b", "hi"), None).await.unwrap_err(),
    ] {
        assert!(matches!(err, NeteaseError::Blocked { until: u, .. } if u == until), "{err:?}");
    }

    // The batch class has its own quota and is not blocked.
    let sent = client.send_batch_attach_msg(&batch(2), None).await.unwrap();
    assert_eq!(sent.unregister, vec!["buyer_1".to_string()]);
    server.verify().await;
}

#[tokio::test]
async fn frequency_control_on_the_batch_class_lasts_a_minute() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 416, "desc": "frequency control"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let before = Instant::now();
    let err = client.send_batch_attach_msg(&batch(3), None).await.unwrap_err();
    let NeteaseError::Blocked { until, .. } = err else { panic!("expected Blocked, got {err:?}") };
    assert!(until >= before + Duration::from_secs(60));
    assert!(matches!(client.send_batch_attach_msg(&batch(3), None).await, Err(NeteaseError::Blocked { .. })));
    server.verify().await;
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200})))
        .expect(0)
        .mount(&server)
        .await;
    let client = client_for(&server);

    let field = |err: NeteaseError| match err {
        NeteaseError::Invalid(f) => f.field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let long_name = CreateUser {
        accid: "a".into(),
        profile: Profile { name: Some("n".repeat(65)), ..Profile::default() },
        ..CreateUser::default()
    };
    assert_eq!(field(client.create_user(&long_name, None).await.unwrap_err()), "name");
    assert_eq!(field(client.create_user(&create(&"a".repeat(33)), None).await.unwrap_err()), "accid");
    assert_eq!(field(client.create_user(&create("has space"), None).await.unwrap_err()), "accid");
    let long_token = CreateUser { token: Some("t".repeat(129)), ..create("a") };
    assert_eq!(field(client.create_user(&long_token, None).await.unwrap_err()), "token");
    let gender = Profile { gender: Some(3), ..Profile::default() };
    assert_eq!(field(client.update_uinfo("a", &gender, None).await.unwrap_err()), "gender");
    let too_many: Vec<String> = (0..201).map(|i| format!("u{i}")).collect();
    assert_eq!(field(client.get_uinfos(&too_many, None).await.unwrap_err()), "accids");
    assert_eq!(field(client.send_batch_attach_msg(&batch(501), None).await.unwrap_err()), "toAccids");
    assert_eq!(field(client.send_batch_attach_msg(&batch(0), None).await.unwrap_err()), "toAccids");
    let bad_payload =
        BatchAttachMsg { delivery: Delivery { payload: Some("{not json".into()), ..Delivery::default() }, ..batch(2) };
    assert_eq!(field(client.send_batch_attach_msg(&bad_payload, None).await.unwrap_err()), "payload");
    let long_attach = BatchAttachMsg { attach: "x".repeat(4097), ..batch(2) };
    assert_eq!(field(client.send_batch_attach_msg(&long_attach, None).await.unwrap_err()), "attach");
    assert_eq!(field(client.unblock_user("a", Some("two words")).await.unwrap_err()), "request_id");
    server.verify().await;
}
