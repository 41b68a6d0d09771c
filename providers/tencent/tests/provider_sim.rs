//! `TencentProvider` against the Tencent simulator: history longer than one `admin_getroammsg` page
//! comes back whole, oldest first, recalled messages left out, each in the shape its callback has.

use imbridge_provider::{Conversation, ImProvider, Profile};
use imbridge_tencent::sim::{ClientMessage, ClientRecall, SimConfig, Simulator};
use imbridge_tencent::{TencentConfig, TencentProvider};
use tokio::net::TcpListener;

const T0: u64 = 1_764_547_200;

#[tokio::test]
async fn history_longer_than_a_page_comes_back_whole_and_oldest_first() {
    let config = SimConfig { now_override: Some(T0 + 3600), ..SimConfig::default() };
    let (sdkappid, key) = (config.sdkappid, config.secret_key.clone());
    let sim = Simulator::start(config, TcpListener::bind("127.0.0.1:0").await.unwrap()).await.unwrap();
    let state = sim.state();
    let provider = TencentProvider::new(TencentConfig::new(sim.base_url(), sdkappid, key)).unwrap();
    for accid in ["buyer", "shop"] {
        let credential = provider.new_credential(accid);
        provider.ensure_account(accid, &Profile::default(), &credential, "create").await.unwrap();
    }
    // 60 messages of ~400 bytes, one per second, alternating sides: well over one ~13 KB page.
    let mut keys = Vec::new();
    for i in 0..60u64 {
        let (from, to) = if i % 3 == 0 { ("buyer", "shop") } else { ("shop", "buyer") };
        let message = ClientMessage {
            from: from.into(),
            to: to.into(),
            text: Some(format!("{i:02} {}", "x".repeat(400))),
            time: Some(T0 + i),
            ..ClientMessage::default()
        };
        keys.push(state.client_message(message).unwrap().msg_key);
    }
    let recalled =
        ClientRecall { from: "shop".into(), to: "buyer".into(), msg_key: keys[1].clone(), ..Default::default() };
    state.client_recall(recalled).unwrap();

    let (from_ms, to_ms) = (T0 as i64 * 1000, (T0 as i64 + 100) * 1000);
    let all = provider.session_history("buyer", "shop", from_ms, to_ms, 100).await.unwrap();
    let pages = state.call_counts()["openim/admin_getroammsg"].values().sum::<u64>();
    assert!(pages >= 2, "more than one page was read: {pages}");
    let expected: Vec<&String> = keys.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, k)| k).collect();
    assert_eq!(all.iter().map(|m| &m.key).collect::<Vec<_>>(), expected, "every page, oldest first, no recall");
    assert!(all.windows(2).all(|w| w[0].sent_at_ms <= w[1].sent_at_ms));
    assert_eq!(all[0].sent_at_ms, from_ms);
    assert_eq!((all[0].from.as_str(), all[0].to.as_str()), ("buyer", "shop"));
    assert!(all.iter().all(|m| m.conversation == Conversation::P2p && m.counts_as_unread));
    assert_eq!(all[0].document["MsgKey"], keys[0].as_str(), "the callback's document shape");

    let oldest = provider.session_history("buyer", "shop", from_ms, to_ms, 10).await.unwrap();
    assert_eq!(oldest, all[..10], "a limit keeps the oldest");
    let window = provider.session_history("buyer", "shop", from_ms + 10_000, from_ms + 12_000, 100).await.unwrap();
    assert_eq!(window.len(), 3, "both ends of the window are included: {window:?}");
    sim.shutdown().await;
}
