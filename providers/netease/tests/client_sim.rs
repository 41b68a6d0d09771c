//! Every endpoint of the client, and the `ImProvider` implementation, end to end against the
//! project's NetEase simulator on port 0. Each test runs its own simulator.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use imbridge_netease::sim::{Faults, SimConfig, SimHandle, Simulator};
use imbridge_netease::{
    AddFriend, AttachMsg, AttachOption, BatchAttachMsg, Conv, CreateUser, Delivery, FriendAddType, MsgType,
    NeteaseClient, NeteaseConfig, NeteaseError, NeteaseProvider, Save, SendMsg,
};
use imbridge_provider::{
    CallbackRequest, Conversation, Credential, EnsureOutcome, Event, ImProvider, Notification, Profile, ProviderError,
    Target,
};
use serde_json::json;

const KEY: &str = "sim-test-key";
const SECRET: &str = "sim-test-secret";

async fn simulator(cfg: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(cfg, listener).await.unwrap()
}

fn sim_config() -> SimConfig {
    SimConfig { app_key: KEY.into(), app_secret: SECRET.into(), ..SimConfig::default() }
}

fn config_for(sim: &SimHandle) -> NeteaseConfig {
    NeteaseConfig::new(sim.base_url(), KEY, SECRET)
}

async fn start() -> (SimHandle, NeteaseClient) {
    let sim = simulator(sim_config()).await;
    let client = NeteaseClient::new(config_for(&sim)).unwrap();
    (sim, client)
}

async fn create(client: &NeteaseClient, accid: &str, token: &str) {
    let req = CreateUser { accid: accid.into(), token: Some(token.into()), ..CreateUser::default() };
    client.create_user(&req, None).await.unwrap();
}

#[tokio::test]
async fn user_endpoints() {
    let (sim, client) = start().await;
    let state = sim.state();

    // create: our token and profile; NetEase's lowercased accid comes back.
    let req = CreateUser {
        accid: "Buyer_01".into(),
        token: Some("token-1".into()),
        profile: Profile { name: Some("Alice".into()), gender: Some(2), ..Profile::default() },
    };
    let created = client.create_user(&req, None).await.unwrap();
    assert_eq!((created.accid.as_str(), created.token.as_str()), ("buyer_01", "token-1"));
    assert!(state.login_ok("buyer_01", "token-1"));
    assert_eq!(state.account("buyer_01").unwrap().name.as_deref(), Some("Alice"));

    // create without a token: NetEase generates one that logs in.
    let generated =
        client.create_user(&CreateUser { accid: "seller_1".into(), ..CreateUser::default() }, None).await.unwrap();
    assert!(!generated.token.is_empty());
    assert!(state.login_ok("seller_1", &generated.token));

    // create again: "already register".
    let again = client.create_user(&req, None).await.unwrap_err();
    assert!(again.is_already_registered(), "{again:?}");

    // update: our token replaces the old one.
    client.update_token("buyer_01", "token-2", None).await.unwrap();
    assert!(state.login_ok("buyer_01", "token-2"));
    assert!(!state.login_ok("buyer_01", "token-1"));

    // refreshToken: a new token; only it logs in.
    let refreshed = client.refresh_token("BUYER_01", None).await.unwrap();
    assert_eq!(refreshed.accid, "buyer_01");
    assert!(state.login_ok("buyer_01", &refreshed.token));
    assert!(!state.login_ok("buyer_01", "token-2"));

    // updateUinfo: only the given fields change.
    let update = Profile {
        icon: Some("https://img.example/a.png".into()),
        ex: Some(r#"{"vip":1}"#.into()),
        ..Profile::default()
    };
    client.update_uinfo("buyer_01", &update, None).await.unwrap();
    let account = state.account("buyer_01").unwrap();
    assert_eq!(
        (account.name.as_deref(), account.icon.as_deref(), account.ex.as_deref()),
        (Some("Alice"), Some("https://img.example/a.png"), Some(r#"{"vip":1}"#))
    );

    // getUinfos: known accounts with their fields; unknown ones are left out.
    let infos = client.get_uinfos(&["buyer_01".into(), "nobody".into()], None).await.unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].accid, "buyer_01");
    assert_eq!(infos[0].name.as_deref(), Some("Alice"));
    assert_eq!(infos[0].gender, Some(2));
    assert_eq!(infos[0].icon.as_deref(), Some("https://img.example/a.png"));

    assert_eq!((infos[0].valid, infos[0].mute), (Some(true), Some(false)));

    // icon is bounded in bytes: 342 three-byte characters are 1026 bytes, refused before sending.
    let wide = Profile { icon: Some("图".repeat(342)), ..Profile::default() };
    let err = client.update_uinfo("buyer_01", &wide, None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Invalid(ref f) if f.field == "icon"), "{err:?}");

    // block / unblock; a blocked account is no longer `valid`.
    client.block_user("buyer_01", true, None).await.unwrap();
    assert!(state.account("buyer_01").unwrap().blocked);
    assert_eq!(state.login("buyer_01", &refreshed.token).code, 422);
    let infos = client.get_uinfos(&["buyer_01".into()], None).await.unwrap();
    assert_eq!(infos[0].valid, Some(false));
    client.unblock_user("buyer_01", None).await.unwrap();
    assert!(state.login_ok("buyer_01", &refreshed.token));

    // An unknown account is NetEase's refusal, with its code and desc.
    let err = client.refresh_token("ghost", None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Api { code: 414, ref desc } if desc.contains("not register")), "{err:?}");
}

#[tokio::test]
async fn friend_endpoints() {
    let (sim, client) = start().await;
    let state = sim.state();
    for accid in ["a", "b", "c"] {
        create(&client, accid, "t").await;
    }

    client.add_friend(&AddFriend::new("a", "b", FriendAddType::Direct), None).await.unwrap();
    let friends = client.get_friends("a", 0, None).await.unwrap();
    assert_eq!(friends.iter().map(|f| f.faccid.as_str()).collect::<Vec<_>>(), ["b"]);
    assert!(friends[0].createtime.is_some());
    assert_eq!(client.get_friends("b", 0, None).await.unwrap()[0].faccid, "a", "type 1 befriends both ways");

    // Request, then accept.
    let request = AddFriend { msg: Some("hi".into()), ..AddFriend::new("a", "c", FriendAddType::Request) };
    client.add_friend(&request, None).await.unwrap();
    assert_eq!(state.friendships("c").requests_received.len(), 1);
    client.add_friend(&AddFriend::new("c", "a", FriendAddType::Accept), None).await.unwrap();
    assert!(state.friendships("c").friends.iter().any(|f| f.faccid == "a"));

    // Request, then reject.
    client.add_friend(&AddFriend::new("b", "c", FriendAddType::Request), None).await.unwrap();
    client.add_friend(&AddFriend::new("c", "b", FriendAddType::Reject), None).await.unwrap();
    assert!(state.friendships("c").requests_received.is_empty());
    assert!(!state.friendships("c").friends.iter().any(|f| f.faccid == "b"));
    // Accepting a request that does not exist is NetEase's 404.
    let err = client.add_friend(&AddFriend::new("c", "b", FriendAddType::Accept), None).await.unwrap_err();
    assert_eq!(err.api_code(), Some(404), "{err:?}");

    client.delete_friend("a", "b", true, None).await.unwrap();
    let friends = client.get_friends("a", 0, None).await.unwrap();
    assert_eq!(friends.iter().map(|f| f.faccid.as_str()).collect::<Vec<_>>(), ["c"]);
}

#[tokio::test]
async fn msg_endpoints() {
    let (sim, client) = start().await;
    let state = sim.state();
    for accid in ["shop_1", "b1", "b2"] {
        create(&client, accid, "t").await;
    }
    let delivery = Delivery {
        pushcontent: Some("Your parcel has shipped".into()),
        payload: Some(r#"{"order":"o-1"}"#.into()),
        sound: Some("ding".into()),
        save: Save::OnlineOnly,
        option: Some(AttachOption { badge: true, route: false }),
    };

    let single = AttachMsg {
        from: "shop_1".into(),
        msgtype: Conv::P2p,
        to: "B1".into(),
        attach: r#"{"type":"shipped","order":"o-1"}"#.into(),
        delivery: delivery.clone(),
    };
    client.send_attach_msg(&single, Some("notif-1")).await.unwrap();
    let records = state.notifications();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.api.as_str(), r.from.as_str(), r.to.as_str(), r.msgtype), ("msg/sendAttachMsg", "shop_1", "b1", 0));
    assert_eq!(r.attach, single.attach);
    assert_eq!(r.pushcontent.as_deref(), Some("Your parcel has shipped"));
    assert_eq!(r.payload.as_deref(), Some(r#"{"order":"o-1"}"#));
    assert_eq!((r.sound.as_deref(), r.save), (Some("ding"), 1));
    let option: serde_json::Value = serde_json::from_str(r.option.as_deref().unwrap()).unwrap();
    assert_eq!(option, json!({"badge": true, "route": false}));
    assert_eq!(r.request_id.as_deref(), Some("notif-1"));

    // The same RequestId again: NetEase says "repeated" and delivers nothing.
    let err = client.send_attach_msg(&single, Some("notif-1")).await.unwrap_err();
    assert_eq!(err.api_code(), Some(431), "{err:?}");
    assert_eq!(state.notifications().len(), 1);

    let team = AttachMsg { msgtype: Conv::Team, to: "1234567".into(), ..single.clone() };
    client.send_attach_msg(&team, None).await.unwrap();
    assert!(state.notifications().iter().any(|r| r.msgtype == 1 && r.to == "1234567"));

    let batch = BatchAttachMsg {
        from_accid: "shop_1".into(),
        to_accids: vec!["b1".into(), "b2".into(), "ghost".into()],
        attach: r#"{"type":"sale"}"#.into(),
        delivery,
    };
    let sent = client.send_batch_attach_msg(&batch, None).await.unwrap();
    assert_eq!(sent.unregister, vec!["ghost".to_string()]);
    let mut batch_recipients: Vec<String> =
        state.notifications().into_iter().filter(|r| r.api == "msg/sendBatchAttachMsg").map(|r| r.to).collect();
    batch_recipients.sort();
    assert_eq!(batch_recipients, ["b1", "b2"]);

    let text = SendMsg { ext: Some(r#"{"order":"o-1"}"#.into()), ..SendMsg::text("b1", Conv::P2p, "Shop_1", "hello") };
    let sent = client.send_msg(&text, None).await.unwrap();
    let message = state.messages().into_iter().find(|m| m.msgid_server.to_string() == sent.msgid).expect("stored");
    assert_eq!((message.from.as_str(), message.to.as_str(), message.conv_type.as_str()), ("b1", "shop_1", "PERSON"));
    assert_eq!(message.msg_type, "TEXT");
    assert!(message.body.contains("hello"), "{}", message.body);
    assert_eq!(message.ext.as_deref(), Some(r#"{"order":"o-1"}"#));
    assert_eq!(sent.timetag, Some(message.timestamp as i64));

    let tips = SendMsg { msg_type: MsgType::Tips, ..SendMsg::text("b1", Conv::P2p, "shop_1", "note") };
    let sent = client.send_msg(&tips, None).await.unwrap();
    let message = state.messages().into_iter().find(|m| m.msgid_server.to_string() == sent.msgid).unwrap();
    assert_eq!(message.msg_type, "TIPS");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_netease() {
    let sim = simulator(sim_config()).await;
    let client = NeteaseClient::new(NeteaseConfig::new(sim.base_url(), KEY, "not-the-secret")).unwrap();
    let err = client.get_uinfos(&["a".into()], None).await.unwrap_err();
    assert_eq!(err.api_code(), Some(414), "{err:?}");
    let provider = NeteaseProvider::new(NeteaseConfig::new(sim.base_url(), KEY, "not-the-secret")).unwrap();
    assert!(matches!(provider.ping().await, Err(ProviderError::Rejected { code: 414, .. })));
}

#[tokio::test]
async fn provider_accounts() {
    let sim = simulator(sim_config()).await;
    let state = sim.state();
    let provider = NeteaseProvider::new(config_for(&sim)).unwrap();
    provider.ping().await.unwrap();

    let accid = provider.normalize_account("Buyer_9").unwrap();
    assert_eq!(accid, "buyer_9");
    let first = provider.new_credential(&accid);
    let profile = Profile { name: Some("Bob".into()), ..Profile::default() };
    assert_eq!(provider.ensure_account(&accid, &profile, &first, "op-1").await.unwrap(), EnsureOutcome::Created);
    assert!(state.login_ok(&accid, &first.token));
    assert_eq!(state.account(&accid).unwrap().name.as_deref(), Some("Bob"));

    // Created elsewhere (or an earlier answer was lost): recovered with OUR token; older ones stop.
    let second = provider.new_credential(&accid);
    assert_ne!(first.token, second.token);
    assert_eq!(provider.ensure_account(&accid, &profile, &second, "op-2").await.unwrap(), EnsureOutcome::Recovered);
    assert!(state.login_ok(&accid, &second.token));
    assert!(!state.login_ok(&accid, &first.token));
    // A retry of that same operation (same request id) is still Recovered.
    assert_eq!(provider.ensure_account(&accid, &profile, &second, "op-2").await.unwrap(), EnsureOutcome::Recovered);
    assert!(state.login_ok(&accid, &second.token));

    let refreshed = provider.client().refresh_token(&accid, Some("op-3")).await.unwrap();
    assert!(state.login_ok(&accid, &refreshed.token));
    assert!(!state.login_ok(&accid, &second.token));

    let update = Profile { sign: Some("hello".into()), ..Profile::default() };
    provider.update_profile(&accid, &update, "op-4").await.unwrap();
    assert_eq!(state.account(&accid).unwrap().sign.as_deref(), Some("hello"));

    provider.set_blocked(&accid, true, "op-5").await.unwrap();
    assert!(state.account(&accid).unwrap().blocked);
    provider.set_blocked(&accid, false, "op-6").await.unwrap();
    assert!(!state.account(&accid).unwrap().blocked);

    // Provider refusals keep NetEase's code and desc.
    let err = provider.update_profile("ghost", &update, "op-7").await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { code: 414, ref desc } if desc.contains("not register")), "{err:?}");
    // Invalid input never reaches NetEase.
    let before = state.call_counts().total;
    let long = Profile { name: Some("n".repeat(65)), ..Profile::default() };
    let err = provider.ensure_account("x", &long, &Credential { token: "t".into(), expires_at: None }, "op-8").await;
    assert!(matches!(err, Err(ProviderError::Invalid(ref f)) if f.field == "name"), "{err:?}");
    assert_eq!(state.call_counts().total, before);
}

#[tokio::test]
async fn provider_friendships() {
    let sim = simulator(sim_config()).await;
    let state = sim.state();
    let provider = NeteaseProvider::new(config_for(&sim)).unwrap();
    for accid in ["buyer", "shop", "other"] {
        let credential = provider.new_credential(accid);
        provider.ensure_account(accid, &Profile::default(), &credential, &format!("create-{accid}")).await.unwrap();
    }
    assert!(provider.supports_friendship());
    provider.add_friend("buyer", "shop", "f-1").await.unwrap();
    assert!(state.friendships("shop").friends.iter().any(|f| f.faccid == "buyer"));
    provider.add_friend("other", "shop", "f-2").await.unwrap();
    // A retry of the same operation (its answer lost) is done, not refused.
    provider.add_friend("other", "shop", "f-2").await.unwrap();
    assert_eq!(state.friendships("shop").friends.len(), 2);
    provider.delete_friend("buyer", "shop", "f-6").await.unwrap();
    assert!(!state.friendships("shop").friends.iter().any(|f| f.faccid == "buyer"));
}

fn notification(target: Target) -> Notification {
    Notification {
        from: "shop".into(),
        target,
        attach: r#"{"event":"shipped"}"#.into(),
        push_content: Some("Shipped".into()),
        payload: Some(r#"{"order":"o-9"}"#.into()),
        sound: None,
        online_only: false,
        badge: true,
        route: true,
    }
}

#[tokio::test]
async fn provider_notifications() {
    let sim = simulator(sim_config()).await;
    let state = sim.state();
    let provider = NeteaseProvider::new(config_for(&sim)).unwrap();
    for accid in ["shop", "b1", "b2"] {
        let credential = provider.new_credential(accid);
        provider.ensure_account(accid, &Profile::default(), &credential, &format!("create-{accid}")).await.unwrap();
    }
    assert_eq!(provider.max_batch_recipients(), 500);

    let one = notification(Target::Users(vec!["B1".into()]));
    let outcome = provider.send_notification(&one, "n-1").await.unwrap();
    assert!(!outcome.duplicate && outcome.unregistered.is_empty());
    let records = state.notifications();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].api.as_str(), records[0].to.as_str(), records[0].save), ("msg/sendAttachMsg", "b1", 2));
    let option: serde_json::Value = serde_json::from_str(records[0].option.as_deref().unwrap()).unwrap();
    assert_eq!(option, json!({"badge": true, "route": true}));

    // A retry with the same request id (the first answer was lost): reported as a duplicate, and
    // the recipient still has exactly one notification.
    let again = provider.send_notification(&one, "n-1").await.unwrap();
    assert!(again.duplicate);
    assert_eq!(state.notifications().len(), 1);

    let several = Notification {
        online_only: true,
        ..notification(Target::Users(vec!["b1".into(), "b2".into(), "gone".into()]))
    };
    let outcome = provider.send_notification(&several, "n-2").await.unwrap();
    assert_eq!(outcome.unregistered, vec!["gone".to_string()]);
    let batch: Vec<_> = state.notifications().into_iter().filter(|r| r.api == "msg/sendBatchAttachMsg").collect();
    assert_eq!(batch.len(), 2);
    assert!(batch.iter().all(|r| r.save == 1 && r.from == "shop"));

    provider.send_notification(&notification(Target::Team("778899".into())), "n-3").await.unwrap();
    assert!(state.notifications().iter().any(|r| r.msgtype == 1 && r.to == "778899"));

    let before = state.call_counts().total;
    let too_many = notification(Target::Users((0..501).map(|i| format!("u{i}")).collect()));
    assert!(matches!(provider.send_notification(&too_many, "n-4").await, Err(ProviderError::Invalid(_))));
    let bad_payload = Notification { payload: Some("{".into()), ..one.clone() };
    assert!(
        matches!(provider.send_notification(&bad_payload, "n-5").await, Err(ProviderError::Invalid(f)) if f.field == "payload")
    );
    assert_eq!(state.call_counts().total, before, "invalid notifications never reach NetEase");
}

#[tokio::test]
async fn transient_failures_are_unavailable_and_a_retry_with_the_same_id_lands_once() {
    let sim = simulator(sim_config()).await;
    let state = sim.state();
    let provider = NeteaseProvider::new(config_for(&sim)).unwrap();
    for accid in ["shop", "b1"] {
        let credential = provider.new_credential(accid);
        provider.ensure_account(accid, &Profile::default(), &credential, &format!("create-{accid}")).await.unwrap();
    }
    let one = notification(Target::Users(vec!["b1".into()]));
    for code in [503, 500, 514, 408] {
        state.set_faults(Faults::fail_next(1, code));
        let err = provider.send_notification(&one, "retry-me").await.unwrap_err();
        assert!(matches!(err, ProviderError::Unavailable(_)), "{code}: {err:?}");
        assert!(err.is_transient());
    }
    state.set_faults(Faults::http_fail_next(1, 502));
    assert!(matches!(provider.send_notification(&one, "retry-me").await, Err(ProviderError::Unavailable(_))));
    state.set_faults(Faults::drop_next(1));
    assert!(matches!(provider.send_notification(&one, "retry-me").await, Err(ProviderError::Unavailable(_))));
    assert!(state.notifications().is_empty());

    assert!(!provider.send_notification(&one, "retry-me").await.unwrap().duplicate);
    assert!(provider.send_notification(&one, "retry-me").await.unwrap().duplicate);
    assert_eq!(state.notifications().len(), 1);
}

#[tokio::test]
async fn a_client_timeout_after_netease_acted_is_settled_by_the_request_id() {
    let sim = simulator(sim_config()).await;
    let state = sim.state();
    let mut cfg = config_for(&sim);
    cfg.request_timeout = Duration::from_millis(300);
    let provider = NeteaseProvider::new(cfg).unwrap();
    for accid in ["shop", "b1"] {
        let credential = provider.new_credential(accid);
        provider.ensure_account(accid, &Profile::default(), &credential, &format!("create-{accid}")).await.unwrap();
    }
    let one = notification(Target::Users(vec!["b1".into()]));
    state.set_faults(Faults::delay(Duration::from_secs(2)).only(&["msg/sendAttachMsg"]));
    assert!(matches!(provider.send_notification(&one, "slow-1").await, Err(ProviderError::Unavailable(_))));
    state.clear_faults();
    // NetEase did deliver it; the retry learns that instead of delivering twice.
    assert!(provider.send_notification(&one, "slow-1").await.unwrap().duplicate);
    assert_eq!(state.notifications().len(), 1);
}

#[tokio::test]
async fn netease_frequency_control_blocks_the_class_locally() {
    let sim = simulator(SimConfig { per_second_limit: 3, ..sim_config() }).await;
    let state = sim.state();
    let client = NeteaseClient::new(config_for(&sim)).unwrap(); // our quota (100/s) is above NetEase's
    for i in 0..3 {
        client.get_uinfos(&[format!("u{i}")], None).await.unwrap();
    }
    let err = client.get_uinfos(&["u3".into()], None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Blocked { code: 416, .. }), "{err:?}");
    let calls = state.call_counts().total;
    for _ in 0..5 {
        let err = client.unblock_user("u1", None).await.unwrap_err();
        assert!(matches!(err, NeteaseError::Blocked { .. }), "{err:?}");
    }
    assert_eq!(state.call_counts().total, calls, "blocked calls do not reach NetEase");
}

#[tokio::test]
async fn the_client_quota_keeps_netease_from_blocking() {
    let sim = simulator(SimConfig { per_second_limit: 4, ..sim_config() }).await;
    let state = sim.state();
    let mut cfg = config_for(&sim);
    cfg.limits.per_second = 4;
    let client = NeteaseClient::new(cfg).unwrap();
    let calls = (0..10).map(|i| {
        let client = client.clone();
        async move { client.get_uinfos(&[format!("u{i}")], None).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(state.call_counts().with_code("user/getUinfos", 200), 10);
    assert_eq!(state.call_counts().with_code("user/getUinfos", 416), 0);
}

/// The simulator's callbacks, as NetEase posts them, verify and parse with this crate.
#[tokio::test]
async fn simulator_callbacks_verify_and_parse() {
    use axum::http::HeaderMap;
    use axum::routing::post;

    let received: Arc<std::sync::Mutex<Vec<CallbackRequest>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/cb",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                sink.lock().unwrap().push(CallbackRequest {
                    method: "POST".into(),
                    path_and_query: "/cb".into(),
                    headers,
                    body,
                });
                axum::Json(json!({"code": 200}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let sim = simulator(SimConfig { callback_url: Some(url), ..sim_config() }).await;
    let provider = NeteaseProvider::new(config_for(&sim)).unwrap();
    let client = provider.client();
    for accid in ["buyer", "shop"] {
        create(client, accid, "t").await;
    }
    let sent = client.send_msg(&SendMsg::text("buyer", Conv::P2p, "shop", "is it in stock?"), None).await.unwrap();
    let notice = AttachMsg {
        from: "shop".into(),
        msgtype: Conv::P2p,
        to: "buyer".into(),
        attach: r#"{"event":"shipped"}"#.into(),
        delivery: Delivery { option: Some(AttachOption { badge: true, route: true }), ..Delivery::default() },
    };
    client.send_attach_msg(&notice, None).await.unwrap();
    assert!(sim.state().flush_callbacks(Duration::from_secs(10)).await, "callbacks delivered");

    let requests = received.lock().unwrap().clone();
    assert!(!requests.is_empty());
    let mut chat = None;
    for request in &requests {
        provider.verify_callback(request, SystemTime::now()).unwrap();
        let parsed = provider.parse_callback(&request.path_and_query, &request.body).unwrap();
        for event in parsed.events {
            if let Event::Message(m) = event {
                if m.key == sent.msgid {
                    chat = Some(m);
                } else {
                    assert_eq!(m.conversation, Conversation::P2pSystem, "{m:?}");
                    assert!(!m.counts_as_unread, "our own notifications never count as unread");
                }
            }
        }
    }
    let chat = chat.expect("the chat message came back as a callback");
    assert_eq!((chat.from.as_str(), chat.to.as_str()), ("buyer", "shop"));
    assert_eq!(chat.conversation, Conversation::P2p);
    assert!(chat.counts_as_unread);
    assert_eq!(Some(chat.sent_at_ms), sent.timetag);
    server.abort();
}
