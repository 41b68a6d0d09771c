//! `POST /v4/{service}/{command}`: the pipeline every REST call goes through (faults, query
//! string and UserSig, rate limit, body, command) and the command table.

mod account;
mod openim;
mod profile;
mod roam;
mod sns;

use std::collections::HashMap;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use imbridge_simkit::DropConnection;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::callbacks::Event;
use super::calls::{self, DROPPED, OK};
use super::faults::Injected;
use super::state::{lock, SimState};
use super::world::World;
use crate::usersig;

/// Longest UserID Tencent accepts, in bytes.
pub(crate) const MAX_USER_ID: usize = 32;

/// A FAIL answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestError {
    pub code: i64,
    pub info: String,
}

impl RestError {
    pub fn new(code: i64, info: impl Into<String>) -> Self {
        Self { code, info: info.into() }
    }

    /// 70402: a parameter is missing or wrong.
    pub fn param(info: impl Into<String>) -> Self {
        Self::new(70402, info)
    }

    /// 70107: an account the call needs was never imported.
    pub fn not_imported(field: &str, id: &str) -> Self {
        Self::new(70107, format!("{field} {id} is not imported"))
    }
}

pub(crate) type RestResult<T> = Result<T, RestError>;

/// An OK answer: the command's fields, the callbacks it fires, and its outcome for `/__sim/calls`.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub fields: Map<String, Value>,
    pub events: Vec<Event>,
    pub duplicate: bool,
}

impl Reply {
    pub fn fields(value: Value) -> Self {
        let fields = match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self { fields, ..Self::default() }
    }
}

/// What a command handler sees besides the world and the body.
pub(crate) struct Ctx<'a> {
    /// Sim-clock unix seconds.
    pub now: u64,
    pub admin: &'a str,
}

type Handler = fn(&mut World, &Value, &Ctx<'_>) -> RestResult<Reply>;

const COMMANDS: &[(&str, Handler)] = &[
    ("im_open_login_svc/account_import", account::account_import),
    ("im_open_login_svc/multiaccount_import", account::multiaccount_import),
    ("im_open_login_svc/account_check", account::account_check),
    ("profile/portrait_set", profile::portrait_set),
    ("profile/portrait_get", profile::portrait_get),
    ("sns/friend_add", sns::friend_add),
    ("sns/friend_delete", sns::friend_delete),
    ("sns/friend_get", sns::friend_get),
    ("openim/sendmsg", openim::sendmsg),
    ("openim/batchsendmsg", openim::batchsendmsg),
    ("openim/get_c2c_unread_msg_num", roam::get_c2c_unread_msg_num),
    ("openim/admin_set_msg_read", roam::admin_set_msg_read),
    ("openim/admin_getroammsg", roam::admin_getroammsg),
    ("openim/admin_msgwithdraw", roam::admin_msgwithdraw),
    ("openim/query_online_status", openim::query_online_status),
];

/// The axum handler of every REST call.
pub(crate) async fn rest_call(
    State(state): State<SimState>,
    Path((service, command)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let name = format!("{service}/{command}");
    let injected = lock(&state.inner.faults).take(&name);
    let (outcome, response) = match injected {
        Some(Injected::Drop) => {
            calls::record(&mut lock(&state.inner.calls), &name, DROPPED);
            return dropped_connection();
        }
        Some(Injected::Http { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (
                format!("http{}", status.as_u16()),
                (status, format!("{status} (injected by the simulator)")).into_response(),
            )
        }
        Some(Injected::Fail { code }) => {
            let e = RestError::new(code, "injected by the simulator");
            (code.to_string(), envelope(Err(e)))
        }
        None => {
            let result = process(&state, &name, query.as_deref().unwrap_or(""), &body);
            let outcome = match &result {
                Ok(r) if r.duplicate => calls::DUPLICATE.to_owned(),
                Ok(_) => OK.to_owned(),
                Err(e) => e.code.to_string(),
            };
            (outcome, envelope(result))
        }
    };
    calls::record(&mut lock(&state.inner.calls), &name, &outcome);
    tracing::debug!(command = %name, outcome, "simulated Tencent REST call");
    let delay = lock(&state.inner.faults).delay_ms(&name);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    response
}

fn envelope(result: RestResult<Reply>) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let body = match result {
        Ok(reply) => {
            let mut out = Map::new();
            out.insert("ActionStatus".into(), json!("OK"));
            out.insert("ErrorCode".into(), json!(0));
            out.insert("ErrorInfo".into(), json!(""));
            out.extend(reply.fields);
            out.insert("RequestId".into(), json!(request_id));
            Value::Object(out)
        }
        Err(e) => json!({"ActionStatus": "FAIL", "ErrorCode": e.code, "ErrorInfo": e.info, "RequestId": request_id}),
    };
    Json(body).into_response()
}

/// Query string, rate limit, body, command — in Tencent's order; nothing changes unless it is OK.
fn process(state: &SimState, name: &str, query: &str, body: &[u8]) -> RestResult<Reply> {
    let cfg = &state.inner.cfg;
    let now = state.now();
    authenticate(cfg, query, now)?;
    let Some(handler) = COMMANDS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h) else {
        return Err(RestError::new(60009, format!("no such REST API: /v4/{name}")));
    };
    if !lock(&state.inner.limiter).admit(name, Instant::now()) {
        return Err(RestError::new(60007, "REST call frequency over the limit"));
    }
    let body: Value = serde_json::from_slice(body).map_err(|e| {
        let code = if name.starts_with("openim/") { 90001 } else { 60003 };
        RestError::new(code, format!("Fail to Parse json data of body, Please check it: {e}"))
    })?;
    if !body.is_object() {
        return Err(RestError::param("the body must be a JSON object"));
    }
    let ctx = Ctx { now, admin: &cfg.admin };
    state.apply(|world, events| {
        let mut reply = handler(world, &body, &ctx)?;
        events.append(&mut reply.events);
        Ok(reply)
    })
}

/// `sdkappid`, `identifier`, `usersig`: the app, an admin, and a UserSig for that admin.
fn authenticate(cfg: &super::SimConfig, query: &str, now: u64) -> RestResult<()> {
    let q: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(sdkappid) = get("sdkappid").and_then(|v| v.parse::<u64>().ok()) else {
        return Err(RestError::new(60012, "REST API requires sdkappid in the URL"));
    };
    if sdkappid != cfg.sdkappid {
        return Err(RestError::new(70014, format!("sdkappid {sdkappid} is not this app's")));
    }
    let (Some(identifier), Some(sig)) = (get("identifier"), get("usersig")) else {
        return Err(RestError::new(60004, "identifier or usersig missing from the URL"));
    };
    let info = usersig::verify(&cfg.secret_key, cfg.sdkappid, sig, now)
        .map_err(|e| RestError::new(e.code(), format!("usersig check failed: {e}")))?;
    if info.identifier != identifier {
        return Err(RestError::new(70013, "identifier does not match the usersig's"));
    }
    if identifier != cfg.admin {
        return Err(RestError::new(70403, format!("{identifier} is not an App admin: the request needs admin")));
    }
    Ok(())
}

/// Parses a command's body into its typed form (70402 with serde's message when it does not fit).
pub(crate) fn parse<T: DeserializeOwned>(body: &Value) -> RestResult<T> {
    T::deserialize(body).map_err(|e| RestError::param(format!("invalid request body: {e}")))
}

/// A well-formed UserID: 1..=32 bytes.
pub(crate) fn check_user_id(field: &str, id: &str) -> RestResult<()> {
    if id.is_empty() || id.len() > MAX_USER_ID {
        return Err(RestError::param(format!("{field} must be 1..={MAX_USER_ID} bytes")));
    }
    Ok(())
}

/// A well-formed UserID of an imported account (70107 otherwise).
pub(crate) fn imported(world: &World, field: &str, id: &str) -> RestResult<()> {
    check_user_id(field, id)?;
    if !world.is_imported(id) {
        return Err(RestError::not_imported(field, id));
    }
    Ok(())
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
