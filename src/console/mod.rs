//! The operator console: `/console`, server-rendered HTML for a person looking at what the provider
//! sent, why a callback was refused, dead letters, failed notifications and shops. Off unless
//! `console.enabled`; then mounted by `app::router` (404 otherwise).
//!
//! Its CSS and JS are files in the binary served under `/console/assets/` (no CDN, works offline),
//! so the Content-Security-Policy allows no inline script or style at all. Every response is
//! `no-store` and refuses to be framed; every POST needs the session's CSRF token
//! ([`session`]) and, when the browser says where it comes from, this origin.

mod callbacks;
mod dead_letters;
mod html;
mod notifications;
mod overview;
mod session;
mod shops;

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use imbridge_provider::ImProvider;
use serde::Deserialize;

pub use session::{Session, SessionKeys, COOKIE};

use crate::app::AppState;
use crate::callbacks::Ingest;
use crate::config::Config;
use crate::error::{ApiForm, AppError};
use crate::messages::MessageStore;
use crate::notifications::Outbox;
use crate::routing::RoutingStore;

/// What the console's pages read and do.
#[derive(Clone)]
pub struct ConsoleState {
    pub config: Arc<Config>,
    pub provider: Arc<dyn ImProvider>,
    pub messages: Arc<dyn MessageStore>,
    pub ingest: Arc<Ingest>,
    pub outbox: Outbox,
    pub routing: RoutingStore,
    pub sessions: SessionKeys,
}

/// The console's routes, or `None` when it is off (or there is no API key to log in with).
pub fn router<S: Clone + Send + Sync + 'static>(state: &AppState) -> Option<Router<S>> {
    let config = &state.config;
    if !config.console.enabled {
        return None;
    }
    if config.api_keys.is_empty() {
        // Config validation refuses this; a config built in code may still get here.
        tracing::warn!("console.enabled without api_keys: the console stays off (operators log in with a key)");
        return None;
    }
    let console = ConsoleState {
        config: config.clone(),
        provider: state.provider.clone(),
        messages: state.messages.clone(),
        ingest: state.ingest.clone(),
        outbox: state.outbox.clone(),
        routing: state.routing.clone(),
        sessions: SessionKeys::new(&config.api_keys, config.console.session_ttl(), config.console.secure_cookie),
    };
    let router = Router::new()
        .route("/console", get(overview::page))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/callbacks", get(callbacks::page))
        .route("/console/dead-letters", get(dead_letters::page))
        .route("/console/dead-letters/replay", post(dead_letters::replay))
        .route("/console/notifications", get(notifications::page))
        .route("/console/notifications/retry", post(notifications::retry))
        .route("/console/shops", get(shops::page))
        .route("/console/assets/console.css", get(|| asset("text/css; charset=utf-8", CSS)))
        .route("/console/assets/console.js", get(|| asset("text/javascript; charset=utf-8", JS)))
        .layer(middleware::from_fn(guard))
        .with_state(console);
    Some(router)
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Refuse cross-site POSTs (defence in depth next to SameSite=Strict and the CSRF token; the only
/// protection the login form has) and put the security headers on every console response.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_origin(&request) {
        return AppError::Forbidden("cross-site form posts are refused").into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it browsers send `Origin: null` on form posts.
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// What the browser says about where a POST comes from, when it says. `Sec-Fetch-Site` (set by the
/// browser, out of a page's reach) must be same-origin, or none (the user typed it); browsers without
/// it are judged by `Origin`, whose host must be this request's `Host`.
fn same_origin(request: &Request) -> bool {
    let headers = request.headers();
    let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(HeaderName::from_static("sec-fetch-site")) {
        return matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

async fn login_form() -> Response {
    html::login(None)
}

#[derive(Deserialize)]
struct LoginForm {
    api_key: String,
}

async fn login(State(state): State<ConsoleState>, ApiForm(form): ApiForm<LoginForm>) -> Response {
    match state.sessions.login(form.api_key.trim(), SystemTime::now()) {
        Some(cookie) => {
            tracing::info!("console: operator logged in");
            ([(header::SET_COOKIE, cookie)], Redirect::to("/console")).into_response()
        }
        None => {
            tracing::warn!("console: login with a wrong API key");
            html::login(Some("That is not one of the service's API keys."))
        }
    }
}

/// Every state-changing form: the session's CSRF token, plus the item it acts on.
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub id: String,
}

async fn logout(State(state): State<ConsoleState>, session: Session, ApiForm(form): ApiForm<ActionForm>) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    ([(header::SET_COOKIE, state.sessions.logout())], Redirect::to("/console/login")).into_response()
}
