//! `ImProvider::session_history` against the simulator: NetEase's history shape comes back as the
//! message events its callbacks would have produced (same key, same receiver, same content fields).

use imbridge_netease::sim::{ClientMessage, SimConfig, SimHandle, Simulator};
use imbridge_netease::{CreateUser, NeteaseClient, NeteaseConfig, NeteaseProvider};
use imbridge_provider::{Conversation, Event, ImProvider, ProviderError};
use serde_json::{json, Value};

const KEY: &str = "history-key";
const SECRET: &str = "history-secret";

/// A simulator without a callback URL (nothing is called back) and a provider on it, with the
/// accounts `buyer` and `shop`.
async fn start() -> (SimHandle, NeteaseProvider) {
    let cfg = SimConfig { app_key: KEY.into(), app_secret: SECRET.into(), ..SimConfig::default() };
    let sim = Simulator::start(cfg, tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await.unwrap();
    let client = NeteaseClient::new(NeteaseConfig::new(sim.base_url(), KEY, SECRET)).unwrap();
    for accid in ["buyer", "shop"] {
        let req = CreateUser { accid: accid.into(), token: Some("t".into()), ..CreateUser::default() };
        client.create_user(&req, None).await.unwrap();
    }
    let provider = NeteaseProvider::new(NeteaseConfig::new(sim.base_url(), KEY, SECRET)).unwrap();
    (sim, provider)
}

async fn send(sim: &SimHandle, message: ClientMessage) -> Value {
    let sent = sim.state().client_message(message).await.unwrap();
    // What the callback of this message would have been, for comparison.
    json!({"eventType": "1", "convType": sent.conv_type, "to": sent.to, "fromAccount": sent.from,
        "fromClientType": sent.from_client_type, "msgTimestamp": sent.timestamp.to_string(),
        "msgType": sent.msg_type, "body": sent.body, "attach": sent.attach,
        "msgidClient": sent.msgid_client, "msgidServer": sent.msgid_server.to_string()})
}

#[tokio::test]
async fn history_comes_back_oldest_first_in_the_callback_shape() {
    let (sim, provider) = start().await;
    let text = ClientMessage {
        from: "shop".into(),
        to: "buyer".into(),
        body: "hello".into(),
        timestamp: Some(1_000),
        ..ClientMessage::default()
    };
    let picture = ClientMessage {
        from: "buyer".into(),
        to: "shop".into(),
        msg_type: Some("PICTURE".into()),
        attach: Some(r#"{"url":"https://x/a.png","w":1}"#.into()),
        timestamp: Some(2_000),
        from_client_type: Some("ios".into()),
        ..ClientMessage::default()
    };
    let tips =
        ClientMessage { msg_type: Some("TIPS".into()), body: "tip".into(), timestamp: Some(3_000), ..text.clone() };
    let sent = [send(&sim, text).await, send(&sim, picture).await, send(&sim, tips).await];

    let events = provider.session_history("Buyer", "shop", 0, 10_000, 100).await.unwrap();
    assert_eq!(events.len(), 3);
    for (event, callback) in events.iter().zip(&sent) {
        // The callback of the same message, parsed: the same fact.
        let parsed = provider.parse_callback("/callbacks/netease", callback.to_string().as_bytes()).unwrap();
        let Event::Message(called_back) = &parsed.events[0] else { panic!("a message") };
        assert_eq!(event.key, called_back.key);
        assert_eq!((&event.from, &event.to), (&called_back.from, &called_back.to));
        assert_eq!(event.sent_at_ms, called_back.sent_at_ms);
        assert_eq!(event.counts_as_unread, called_back.counts_as_unread);
        assert_eq!(event.conversation, Conversation::P2p);
        for field in ["msgType", "msgidClient", "fromClientType", "fromAccount", "to", "msgidServer"] {
            assert_eq!(event.document[field], called_back.document[field], "{field}");
        }
        assert_eq!(event.document["backfilled"], true);
    }
    assert_eq!(events[0].document["body"], "hello");
    assert_eq!(events[2].document["body"], "tip");
    let attach: Value = serde_json::from_str(events[1].document["attach"].as_str().unwrap()).unwrap();
    assert_eq!(attach, json!({"url": "https://x/a.png", "w": 1}));

    // The window narrows: oldest first, at most `limit`, both ends included.
    let first = provider.session_history("buyer", "shop", 0, 10_000, 2).await.unwrap();
    assert_eq!(first.iter().map(|e| e.sent_at_ms).collect::<Vec<_>>(), [1_000, 2_000]);
    let rest = provider.session_history("buyer", "shop", 2_000, 3_000, 100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.sent_at_ms).collect::<Vec<_>>(), [2_000, 3_000]);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_call() {
    let (sim, provider) = start().await;
    let before = sim.state().call_counts().total;
    let invalid = |e: ProviderError| match e {
        ProviderError::Invalid(field) => field.field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    assert_eq!(invalid(provider.session_history("buyer", "shop", 0, 1, 101).await.unwrap_err()), "limit");
    assert_eq!(invalid(provider.session_history("buyer", "shop", 5, 5, 10).await.unwrap_err()), "begintime");
    assert_eq!(invalid(provider.session_history("bad accid", "shop", 0, 5, 10).await.unwrap_err()), "accid");
    assert_eq!(sim.state().call_counts().total, before);
}
