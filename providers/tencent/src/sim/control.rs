//! The simulator's routes: Tencent's REST API under `/v4`, and inspection and control for tests
//! under `/__sim` (a path Tencent never uses); the table is in the `sim` module's documentation.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use imbridge_simkit::control::{self, ok, parse, ControlError, ControlResult, FlushQuery};
use serde::Deserialize;
use serde_json::json;

use super::callbacks::CallbackMode;
use super::clients::{ClientError, ClientMessage, ClientPresence, ClientRead, ClientRecall};
use super::faults::Faults;
use super::rest;
use super::state::SimState;

impl From<ClientError> for ControlError {
    fn from(e: ClientError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, e.code, e.message)
    }
}

pub(crate) fn router(state: SimState) -> Router {
    Router::new()
        .route("/v4/{service}/{command}", post(rest::rest_call))
        .route("/__sim/accounts", get(accounts))
        .route("/__sim/accounts/{id}", get(account))
        .route("/__sim/login", post(login))
        .route("/__sim/friendships/{id}", get(friendships))
        .route("/__sim/messages", get(messages))
        .route("/__sim/notifications", get(notifications))
        .route("/__sim/calls", get(calls))
        .route("/__sim/faults", get(faults).post(set_faults).delete(clear_faults))
        .route("/__sim/reset", post(reset))
        .route("/__sim/clock", get(clock).post(advance_clock))
        .route("/__sim/callbacks", get(callbacks))
        .route("/__sim/callbacks/flush", post(flush_callbacks))
        .route("/__sim/callbacks/mode", get(callback_mode).post(set_callback_mode))
        .route("/__sim/callbacks/url", get(callback_url).post(set_callback_url))
        .route("/__sim/clients/message", post(client_message))
        .route("/__sim/clients/read", post(client_read))
        .route("/__sim/clients/recall", post(client_recall))
        .route("/__sim/clients/login", post(client_login))
        .route("/__sim/clients/logout", post(client_logout))
        .fallback(|| async { ControlError::not_found("no such route on the Tencent simulator") })
        .with_state(state)
}

async fn accounts(State(s): State<SimState>) -> impl IntoResponse {
    Json(s.accounts())
}

async fn account(State(s): State<SimState>, Path(id): Path<String>) -> ControlResult<impl IntoResponse> {
    s.account(&id).map(Json).ok_or_else(|| ControlError::not_found(format!("no account {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    accid: String,
    /// A UserSig.
    token: String,
}

async fn login(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    let b: LoginBody = parse(&body)?;
    Ok(Json(s.login(&b.accid, &b.token)))
}

async fn friendships(State(s): State<SimState>, Path(id): Path<String>) -> impl IntoResponse {
    Json(s.friendships(&id))
}

async fn messages(State(s): State<SimState>) -> impl IntoResponse {
    Json(s.messages())
}

async fn notifications(State(s): State<SimState>) -> impl IntoResponse {
    Json(s.notifications())
}

async fn calls(State(s): State<SimState>) -> impl IntoResponse {
    Json(s.call_counts())
}

async fn faults(State(s): State<SimState>) -> impl IntoResponse {
    Json(s.faults())
}

async fn set_faults(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    let faults: Faults = parse(&body)?;
    if let Some(problem) = faults.problem() {
        return Err(ControlError::bad_request(problem));
    }
    s.set_faults(faults.clone());
    Ok(Json(faults))
}

async fn clear_faults(State(s): State<SimState>) -> impl IntoResponse {
    s.clear_faults();
    Json(Faults::default())
}

async fn reset(State(s): State<SimState>) -> impl IntoResponse {
    s.reset();
    ok()
}

async fn clock(State(s): State<SimState>) -> impl IntoResponse {
    Json(json!({"now": s.now()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance_secs: i64,
}

async fn advance_clock(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    let b: ClockBody = parse(&body)?;
    Ok(Json(json!({"now": s.advance_clock(b.advance_secs)})))
}

async fn callbacks(State(s): State<SimState>) -> impl IntoResponse {
    Json(s.callbacks())
}

async fn flush_callbacks(State(s): State<SimState>, Query(q): Query<FlushQuery>) -> Response {
    control::flush(q, |timeout| async move { s.flush_callbacks(timeout).await }).await
}

async fn callback_mode(State(s): State<SimState>) -> impl IntoResponse {
    Json(s.callback_mode())
}

async fn set_callback_mode(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    let mode: CallbackMode = parse(&body)?;
    if mode.drop_percent > 100 {
        return Err(ControlError::bad_request("drop_percent must be 0..=100"));
    }
    s.set_callback_mode(mode);
    Ok(Json(mode))
}

async fn callback_url(State(s): State<SimState>) -> impl IntoResponse {
    Json(json!({"url": s.callback_url()}))
}

async fn set_callback_url(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    let url = control::callback_url(&body)?;
    s.set_callback_url(url.clone());
    Ok(Json(json!({"url": url})))
}

async fn client_message(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    Ok(Json(s.client_message(parse::<ClientMessage>(&body)?)?))
}

async fn client_read(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    let time = s.client_read(parse::<ClientRead>(&body)?)?;
    Ok(Json(json!({"ok": true, "last_read_time": time})))
}

async fn client_recall(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    s.client_recall(parse::<ClientRecall>(&body)?)?;
    Ok(ok())
}

async fn client_login(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    s.client_presence(parse::<ClientPresence>(&body)?, true)?;
    Ok(ok())
}

async fn client_logout(State(s): State<SimState>, body: Bytes) -> ControlResult<impl IntoResponse> {
    s.client_presence(parse::<ClientPresence>(&body)?, false)?;
    Ok(ok())
}
