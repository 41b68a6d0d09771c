//! The one way to build and run the service: [`Application::build`] from a [`Config`] and an
//! optional pre-bound listener (tests bind `127.0.0.1:0`), then [`Application::run_until_stopped`].
//! Feature routers are merged here and the tower layers applied in one place.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use imbridge_provider::ImProvider;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::accounts::{AccountService, AccountStore, AccountsState};
use crate::auth::{self, ApiKeys};
use crate::callbacks::Ingest;
use crate::chats::ChatsState;
use crate::config::{Config, ConfigError};
use crate::conversations::ConversationsState;
use crate::db::{Sql, SqlOptions};
use crate::error::AppError;
use crate::http_metrics;
use crate::messages::{EmbeddedMessageStore, MessageStore, MongoMessageStore, MongoStoreOptions, StoreError};
use crate::notifications::NotificationsState;
use crate::presence::PresenceState;
use crate::providers::{self, ProviderSetup, ProviderSetupError};
use crate::routing::RoutingState;
use crate::unread::UnreadState;

/// Everything handlers share. Cheap to clone (pools and `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub sql: Sql,
    /// The only way to reach the IM provider.
    pub provider: Arc<dyn ImProvider>,
    pub accounts: AccountService,
    pub outbox: crate::notifications::Outbox,
    /// Messages, read watermarks, presence and raw callbacks (MongoDB or the embedded store).
    pub messages: Arc<dyn MessageStore>,
    pub ingest: Arc<Ingest>,
    /// Shops, agents and assignments (the SQL database).
    pub routing: crate::routing::RoutingStore,
    /// Cancelled when the service shuts down; background work stops on it.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for AccountsState {
    fn from_ref(state: &AppState) -> Self {
        Self { provider: state.provider.clone(), accounts: state.accounts.clone() }
    }
}

impl FromRef<AppState> for ChatsState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            provider: state.provider.clone(),
            accounts: state.accounts.clone(),
            chat_policy: state.config.chat_policy.clone(),
        }
    }
}

impl FromRef<AppState> for RoutingState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            provider: state.provider.clone(),
            accounts: state.accounts.clone(),
            routing: state.routing.clone(),
            messages: state.messages.clone(),
            chat_policy: state.config.chat_policy.clone(),
            retry_after: state.config.routing.retry_after(),
            max_agents: state.config.routing.max_agents,
        }
    }
}

impl FromRef<AppState> for NotificationsState {
    fn from_ref(state: &AppState) -> Self {
        Self { outbox: state.outbox.clone() }
    }
}

impl FromRef<AppState> for ConversationsState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            provider: state.provider.clone(),
            messages: state.messages.clone(),
            outbox: state.outbox.clone(),
            export_max_days: state.config.export.max_days,
        }
    }
}

/// Why the service could not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open the SQL database (database_url): {0}")]
    Database(#[source] sqlx::Error),
    #[error(transparent)]
    Provider(#[from] ProviderSetupError),
    #[error("cannot open the message store ({what}): {source}")]
    MessageStore { what: &'static str, source: StoreError },
}

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    state: AppState,
    sandbox: Option<providers::Sandbox>,
    /// The backfill worker, awaited on shutdown so it hands its job back before the database closes.
    backfill: Option<tokio::task::JoinHandle<()>>,
    /// The replay worker, awaited likewise.
    replay: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Bind (or take `listener`), open the database, set up the provider (sandbox simulator when
    /// the chosen provider has no base URL configured) and build the router. Nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config, listener: Option<TcpListener>) -> Result<Self, StartupError> {
        let listener = match listener {
            Some(listener) => listener,
            None => {
                // Refuse before binding: an open API must not be reachable even for a moment.
                config.check_listen_addr(config.listen)?;
                TcpListener::bind(config.listen)
                    .await
                    .map_err(|source| StartupError::Listen { addr: config.listen, source })?
            }
        };
        let addr = listener.local_addr().map_err(|source| StartupError::Listen { addr: config.listen, source })?;
        config.check_listen_addr(addr)?;

        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| StartupError::DataDir { path: config.data_dir.display().to_string(), source })?;
        let sql_options = SqlOptions {
            acquire_timeout: config.storage.sql_acquire_timeout(),
            busy_timeout: config.storage.sqlite_busy_timeout(),
        };
        let sql = Sql::connect_with(config.database_url.expose_secret(), sql_options)
            .await
            .map_err(StartupError::Database)?;

        let callback_url = format!("http://{}{}", reachable(addr), config.callbacks.path);
        let ProviderSetup { provider, sandbox } = providers::build(&config, &callback_url).await?;

        crate::health::prometheus();
        let messages = open_message_store(&config).await?;
        let ingest = Arc::new(Ingest::new(provider.clone(), messages.clone(), config.callbacks.ingest_mode()));
        let state = AppState {
            messages,
            ingest,
            accounts: AccountService::new(AccountStore::new(sql.clone()), provider.clone()),
            outbox: crate::notifications::Outbox::new(sql.clone(), provider.clone(), config.outbox.clone()),
            routing: crate::routing::RoutingStore::new(sql.clone()),
            config: Arc::new(config),
            sql,
            provider,
            shutdown: CancellationToken::new(),
        };
        state.outbox.start_worker(&state.shutdown);
        let backfill = crate::backfill::start_worker(&state);
        let replay = crate::replay::start_worker(&state);
        crate::routing::start_sweeper(&state);
        crate::messages::spawn_raw_purge(state.messages.clone(), RAW_PURGE_EVERY, state.shutdown.clone());
        let router = router(state.clone());
        tracing::info!(%addr, provider = state.provider.name(), "imbridge ready");
        Ok(Self { listener, addr, router, state, sandbox, backfill, replay })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The in-process simulator's base URL in sandbox mode (NetEase:
    /// `http://127.0.0.1:PORT/nimserver`; Tencent: `http://127.0.0.1:PORT`).
    pub fn sandbox_base_url(&self) -> Option<String> {
        self.sandbox.as_ref().map(providers::Sandbox::base_url)
    }

    /// The in-process simulator's root URL (its `/__sim` control endpoints) in sandbox mode.
    pub fn sandbox_root_url(&self) -> Option<String> {
        self.sandbox.as_ref().map(providers::Sandbox::root_url)
    }

    /// Cancel it to stop the service gracefully (what SIGTERM / Ctrl-C do in `main`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serve until the shutdown token is cancelled, then let in-flight requests finish within
    /// `http.shutdown_timeout_secs`, stop the sandbox simulator and close the database.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application { listener, router, state, sandbox, backfill, replay, .. } = self;
        let token = state.shutdown.clone();
        let deadline = state.config.http.shutdown_timeout();
        let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(token.clone().cancelled_owned());
        let outcome = tokio::select! {
            outcome = serve => outcome,
            () = async { token.cancelled().await; tokio::time::sleep(deadline).await } => {
                tracing::warn!(?deadline, "shutdown deadline passed; closing the remaining connections");
                Ok(())
            }
        };
        state.outbox.shutdown().await;
        if let Some(worker) = backfill {
            // Cancelled with the same token: it records its progress and releases its job's lease.
            state.shutdown.cancel();
            if tokio::time::timeout(BACKFILL_STOP_WITHIN, worker).await.is_err() {
                tracing::warn!("the backfill worker did not stop in time; its job's lease will expire");
            }
        }
        // Cancelled with the same token: it records its last page and releases its job's lease.
        state.shutdown.cancel();
        if tokio::time::timeout(REPLAY_STOP_WITHIN, replay).await.is_err() {
            tracing::warn!("the replay worker did not stop in time; its job's lease will expire");
        }
        if let Some(sim) = sandbox {
            sim.shutdown().await;
        }
        state.sql.close().await;
        tracing::info!("imbridge stopped");
        outcome
    }
}

const RAW_PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown waits for the backfill worker to finish its window and hand its job back.
const BACKFILL_STOP_WITHIN: Duration = Duration::from_secs(10);
/// How long shutdown waits for the replay worker to finish its page and hand its job back.
const REPLAY_STOP_WITHIN: Duration = Duration::from_secs(10);

/// MongoDB when `mongodb_uri` is set (database from the URI's path, default `imbridge`), otherwise
/// the embedded SQLite store `messages.db` in the data directory.
async fn open_message_store(config: &Config) -> Result<Arc<dyn MessageStore>, StartupError> {
    let retention = config.callbacks.raw_retention();
    match &config.mongodb_uri {
        Some(uri) => {
            let uri = uri.expose_secret();
            let database = mongodb::options::ClientOptions::parse(uri)
                .await
                .ok()
                .and_then(|o| o.default_database)
                .unwrap_or_else(|| "imbridge".to_owned());
            // Starts even when MongoDB is unreachable (callbacks get 503 until it is back).
            let store = MongoMessageStore::start(uri, MongoStoreOptions::new(&database, retention))
                .await
                .map_err(|source| StartupError::MessageStore { what: "mongodb_uri", source })?;
            tracing::info!(%database, "message store: MongoDB");
            Ok(Arc::new(store))
        }
        None => {
            let path = config.data_dir.join("messages.db");
            let url = format!("sqlite://{}", path.display());
            let store = EmbeddedMessageStore::open_with(&url, retention, config.storage.sqlite_busy_timeout())
                .await
                .map_err(|source| StartupError::MessageStore { what: "embedded store in data_dir", source })?;
            tracing::info!(path = %path.display(), "message store: embedded SQLite");
            Ok(Arc::new(store))
        }
    }
}

/// An address this host can reach the listener on (the sandbox simulator posts callbacks to it).
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface: `/v1` (bearer keys) and the provider callback path (signed by the
/// provider, so no bearer key).
pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let keys = ApiKeys::new(&config.api_keys);
    let v1 = Router::new()
        .merge(crate::accounts::router())
        .merge(crate::chats::router())
        .merge(crate::routing::router())
        .merge(crate::conversations::router())
        .merge(crate::notifications::router())
        .merge(crate::unread::router(UnreadState { provider: state.provider.clone(), store: state.messages.clone() }))
        .merge(crate::presence::router(PresenceState {
            provider: state.provider.clone(),
            store: state.messages.clone(),
        }))
        .merge(crate::backfill::router(&state))
        .merge(crate::replay::router(&state))
        .layer(DefaultBodyLimit::max(config.http.body_limit_bytes))
        .route_layer(middleware::from_fn_with_state(keys, auth::require_api_key))
        .route_layer(middleware::from_fn(http_metrics::remember_route));
    let unauthenticated = Router::new()
        .merge(crate::health::router())
        .merge(crate::openapi::router(&config.callbacks.path, &state.provider.callback_doc()))
        .merge(crate::callbacks::router(
            state.ingest.clone(),
            &config.callbacks.path,
            config.callbacks.body_limit_bytes,
        ))
        .route_layer(middleware::from_fn(http_metrics::remember_route));

    // The console (when enabled) has its own login: a session cookie, not the bearer key.
    let console = crate::console::router(&state)
        .map(|console| console.route_layer(middleware::from_fn(http_metrics::remember_route)))
        .unwrap_or_default();

    Router::new()
        .nest("/v1", v1)
        .merge(unauthenticated)
        .merge(console)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(config.http.request_timeout(), deadline))
        .layer(middleware::from_fn(http_metrics::track))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Every request gets `http.request_timeout_secs`, answered with a JSON 408 when it runs out.
async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::Timeout(limit.as_secs()).into_response(),
    }
}

async fn not_found() -> AppError {
    AppError::NotFound("no such route".into())
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
