//! `POST /nimserver/<module>/<action>.action`: the pipeline every NetEase call goes through
//! (faults, authentication, rate limits, RequestId, endpoint) and the endpoint table.

mod friend;
mod history;
mod msg;
mod user;

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use imbridge_simkit::DropConnection;

use super::auth::{self, Credentials};
use super::calls::DROPPED;
use super::faults::Injected;
use super::limits::RateClass;
use super::params::{NimError, NimResult, Params, Reply};
use super::state::{lock, SimState};
use super::world::{Call, World};
use crate::sign;

type Handler = fn(&mut World, &Params, &mut Call<'_>) -> NimResult<Reply>;

/// An implemented API: its name (`"user/create"`), rate class and handler.
struct Endpoint {
    name: &'static str,
    class: RateClass,
    handler: Handler,
}

const ENDPOINTS: &[Endpoint] = &[
    ep("user/create", RateClass::PerSecond, user::create),
    ep("user/update", RateClass::PerSecond, user::update),
    ep("user/refreshToken", RateClass::PerSecond, user::refresh_token),
    ep("user/updateUinfo", RateClass::PerSecond, user::update_uinfo),
    ep("user/getUinfos", RateClass::PerSecond, user::get_uinfos),
    ep("user/block", RateClass::PerSecond, user::block),
    ep("user/unblock", RateClass::PerSecond, user::unblock),
    ep("friend/add", RateClass::PerSecond, friend::add),
    ep("friend/update", RateClass::PerSecond, friend::update),
    ep("friend/delete", RateClass::PerSecond, friend::delete),
    ep("friend/get", RateClass::PerSecond, friend::get),
    ep("msg/sendMsg", RateClass::PerSecond, msg::send_msg),
    ep("msg/sendAttachMsg", RateClass::PerSecond, msg::send_attach_msg),
    ep("msg/recall", RateClass::PerSecond, msg::recall),
    ep("msg/markReadMsg", RateClass::PerSecond, history::mark_read_msg),
    ep("history/querySessionMsg", RateClass::PerSecond, history::query_session_msg),
    ep("msg/sendBatchMsg", RateClass::Batch, msg::send_batch_msg),
    ep("msg/sendBatchAttachMsg", RateClass::Batch, msg::send_batch_attach_msg),
];

const fn ep(name: &'static str, class: RateClass, handler: Handler) -> Endpoint {
    Endpoint { name, class, handler }
}

fn endpoint(module: &str, action: &str) -> Option<&'static Endpoint> {
    let action = action.strip_suffix(".action")?;
    ENDPOINTS.iter().find(|e| e.name.split_once('/') == Some((module, action)))
}

/// The axum handler of every NetEase call.
pub(crate) async fn nim_call(
    State(state): State<SimState>,
    Path((module, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(endpoint) = endpoint(&module, &action) else {
        let desc = format!("no such api: /nimserver/{module}/{action}");
        return (StatusCode::NOT_FOUND, Json(Reply::from(NimError::not_found(desc)).into_json())).into_response();
    };
    let api = endpoint.name;
    let injected = lock(&state.inner.faults).take(api);
    let (outcome, response) = match injected {
        Some(Injected::Drop) => {
            lock(&state.inner.calls).record(api, DROPPED);
            tracing::debug!(api, "simulated NetEase call: connection dropped");
            return dropped_connection();
        }
        Some(Injected::Fail { code, http_status: true }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let text = format!("{status} (injected by the simulator)");
            (format!("http{code}"), (status, text).into_response())
        }
        Some(Injected::Fail { code, http_status: false }) => {
            let reply = Reply::from(NimError::new(code, "server busy (injected by the simulator)"));
            (code.to_string(), Json(reply.into_json()).into_response())
        }
        None => {
            let reply = process(&state, endpoint, &headers, &body).await;
            (reply.code().to_string(), Json(reply.into_json()).into_response())
        }
    };
    lock(&state.inner.calls).record(api, &outcome);
    tracing::debug!(api, outcome, "simulated NetEase call");
    let delay = lock(&state.inner.faults).delay(api);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

/// Authentication, rate limit, RequestId and the endpoint, in NetEase's order.
async fn process(state: &SimState, endpoint: &Endpoint, headers: &HeaderMap, body: &[u8]) -> Reply {
    let cfg = &state.inner.cfg;
    let creds = Credentials { app_key: &cfg.app_key, app_secret: &cfg.app_secret, window: cfg.checksum_window };
    if let Err(e) = auth::verify(&creds, headers, sign::now_secs()) {
        return e.into();
    }
    let params = match Params::parse(body) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    if let Err(e) = lock(&state.inner.limiter).admit(endpoint.class, Instant::now()) {
        return e.into();
    }
    let request_id = headers.get("RequestId").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    state
        .apply(request_id, |world, call| {
            let now = Instant::now();
            if let Some(id) = request_id {
                if world.request_ids.contains(id, now) {
                    return NimError::new(431, format!("request repeated: RequestId {id} was already handled")).into();
                }
            }
            let reply = (endpoint.handler)(world, &params, call).unwrap_or_else(|e| {
                // Handlers validate before they change anything, but be sure nothing leaks out.
                call.persist = false;
                call.callbacks.clear();
                e.into()
            });
            if let (true, Some(id)) = (reply.is_ok(), request_id) {
                world.request_ids.remember(id, now);
            }
            reply
        })
        .await
}

/// Served by [`super::server`], this closes the connection before any byte; served by anything
/// else, the body fails after the headers, which still breaks the call for the client.
fn dropped_connection() -> Response {
    let failing =
        futures::stream::once(async { Err::<Bytes, _>(std::io::Error::other("connection dropped by the simulator")) });
    let mut response = Response::new(Body::from_stream(failing));
    response.extensions_mut().insert(DropConnection);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_found_by_module_and_action() {
        assert_eq!(endpoint("user", "create.action").map(|e| e.name), Some("user/create"));
        assert_eq!(endpoint("msg", "sendBatchAttachMsg.action").map(|e| e.class), Some(RateClass::Batch));
        assert!(endpoint("user", "create").is_none());
        assert!(endpoint("user", "nope.action").is_none());
    }
}
