//! The interleavings behind `service.rs`'s convergence argument, scheduled deterministically: two
//! service instances (separate in-process locks, as on two machines) over one SQLite database and
//! one NetEase simulator, with a gate that holds one instance's push to the provider until the
//! other has finished.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use imbridge_netease::sim::{SimConfig, SimHandle, Simulator};
use imbridge_netease::{NeteaseConfig, NeteaseProvider};
use imbridge_provider::{
    Ack, CallbackRequest, Credential, EnsureOutcome, ImProvider, InvalidField, Notification, ParseError,
    ParsedCallback, Profile, ProviderError, SendOutcome, VerifyFailure,
};
use tokio::sync::{oneshot, Mutex};

use super::{AccountService, AccountStore};
use crate::db::Sql;

/// Delegates to the real provider; the first `ensure_account` reports that it arrived and waits
/// for a release before going on.
struct Gated {
    inner: NeteaseProvider,
    gate: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

#[async_trait]
impl ImProvider for Gated {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn normalize_account(&self, account: &str) -> Result<String, InvalidField> {
        self.inner.normalize_account(account)
    }
    fn validate_profile(&self, profile: &Profile) -> Result<(), InvalidField> {
        self.inner.validate_profile(profile)
    }
    fn validate_notification(&self, n: &Notification) -> Result<(), InvalidField> {
        self.inner.validate_notification(n)
    }
    fn stores_credentials(&self) -> bool {
        self.inner.stores_credentials()
    }
    fn new_credential(&self, accid: &str) -> Credential {
        self.inner.new_credential(accid)
    }
    async fn ensure_account(
        &self,
        accid: &str,
        profile: &Profile,
        credential: &Credential,
        request_id: &str,
    ) -> Result<EnsureOutcome, ProviderError> {
        let gate = self.gate.lock().await.take();
        if let Some((arrived, release)) = gate {
            let _ = arrived.send(());
            let _ = release.await;
        }
        self.inner.ensure_account(accid, profile, credential, request_id).await
    }
    async fn update_profile(&self, accid: &str, profile: &Profile, request_id: &str) -> Result<(), ProviderError> {
        self.inner.update_profile(accid, profile, request_id).await
    }
    async fn set_blocked(&self, accid: &str, blocked: bool, request_id: &str) -> Result<(), ProviderError> {
        self.inner.set_blocked(accid, blocked, request_id).await
    }
    fn supports_friendship(&self) -> bool {
        self.inner.supports_friendship()
    }
    async fn add_friend(&self, a: &str, f: &str, id: &str) -> Result<(), ProviderError> {
        self.inner.add_friend(a, f, id).await
    }
    async fn delete_friend(&self, a: &str, f: &str, id: &str) -> Result<(), ProviderError> {
        self.inner.delete_friend(a, f, id).await
    }
    fn max_batch_recipients(&self) -> usize {
        self.inner.max_batch_recipients()
    }
    async fn send_notification(&self, n: &Notification, id: &str) -> Result<SendOutcome, ProviderError> {
        self.inner.send_notification(n, id).await
    }
    async fn ping(&self) -> Result<(), ProviderError> {
        self.inner.ping().await
    }
    fn verify_callback(&self, request: &CallbackRequest, now: SystemTime) -> Result<(), VerifyFailure> {
        self.inner.verify_callback(request, now)
    }
    fn parse_callback(&self, path_and_query: &str, body: &[u8]) -> Result<ParsedCallback, ParseError> {
        self.inner.parse_callback(path_and_query, body)
    }
    fn callback_doc(&self) -> imbridge_provider::CallbackDoc {
        self.inner.callback_doc()
    }
    fn message_content(&self, document: &serde_json::Value) -> imbridge_provider::MessageContent {
        self.inner.message_content(document)
    }
    fn callback_ack(&self) -> Ack {
        self.inner.callback_ack()
    }
}

struct World {
    _dir: tempfile::TempDir,
    sim: SimHandle,
    store: AccountStore,
    /// Instance A: plain provider.
    a: AccountService,
    /// Instance B: its first push waits at the gate.
    b: AccountService,
    arrived: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let sql = Sql::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
    let cfg = SimConfig { app_key: "k".into(), app_secret: "s".into(), ..SimConfig::default() };
    let sim = Simulator::start(cfg, tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await.unwrap();
    let provider = || NeteaseProvider::new(NeteaseConfig::new(sim.base_url(), "k", "s")).unwrap();
    let (arrived_tx, arrived) = oneshot::channel();
    let (release, release_rx) = oneshot::channel();
    let gated = Gated { inner: provider(), gate: Mutex::new(Some((arrived_tx, release_rx))) };
    let store = AccountStore::new(sql);
    World {
        a: AccountService::new(store.clone(), Arc::new(provider())),
        b: AccountService::new(store.clone(), Arc::new(gated)),
        store,
        sim,
        _dir: dir,
        arrived,
        release,
    }
}

/// B pushes a token that A replaced meanwhile, and B's stale push reaches the provider last. B
/// must notice (its compare-and-set fails) and push the stored token, although the row it then
/// reads is already marked synced by A.
#[tokio::test]
async fn a_stale_push_that_lands_last_is_repaired() {
    let w = world().await;
    let t0 = w.a.ensure("x", &Profile::default()).await.unwrap().account.token;
    // As after a crash mid-refresh: registered, token not known to be accepted.
    assert!(w.store.replace_token("x", &t0, &t0).await.unwrap());

    let b = w.b.clone();
    let stale = tokio::spawn(async move { b.ensure("x", &Profile::default()).await });
    w.arrived.await.unwrap(); // B has read t0 and is about to push it.
    let t1 = w.a.refresh_token("x").await.unwrap().token;
    assert!(w.sim.state().login("x", &t1).ok);
    w.release.send(()).unwrap(); // B's push of t0 now lands after A's push of t1.
    let from_b = stale.await.unwrap().unwrap().account.token;

    assert_eq!(from_b, t1, "B hands out the stored token");
    let stored = w.store.get("x").await.unwrap().unwrap();
    assert_eq!(stored.token, t1);
    assert!(stored.is_ready());
    assert!(w.sim.state().login("x", &t1).ok, "the provider accepts the stored token again");
    assert!(!w.sim.state().login("x", &t0).ok);
}

/// Two instances register one new account at once: B reserved first, A adopts B's reservation;
/// whatever order their pushes land in, the provider ends up with the one stored token.
#[tokio::test]
async fn racing_registrations_converge_on_the_reserved_token() {
    let w = world().await;
    let b = w.b.clone();
    let racing = tokio::spawn(async move { b.ensure("y", &Profile::default()).await });
    w.arrived.await.unwrap(); // B reserved its token and is about to push it.
    let from_a = w.a.ensure("y", &Profile::default()).await.unwrap();
    w.release.send(()).unwrap();
    let from_b = racing.await.unwrap().unwrap();

    assert_eq!(from_a.account.token, from_b.account.token);
    assert!(w.sim.state().login("y", &from_a.account.token).ok);
    assert_eq!([from_a.created, from_b.created].iter().filter(|c| **c).count(), 1, "one of them registered it");
}
