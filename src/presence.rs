//! Who is online: `GET /v1/presence?accids=a,b,…`, from the login/logout callbacks.
//!
//! Presence is kept per (account, client type), newest event wins (shared/providers/netease.md §2):
//! an account is online when any of its client types is. One store query per request.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use imbridge_provider::ImProvider;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::accid::{AccidList, Field};
use crate::error::{ApiQuery, AppError, ErrorBody};
use crate::messages::{MessageStore, PresenceRecord};

/// The most accids one request may ask about.
pub const MAX_ACCIDS: usize = 500;

#[derive(Clone)]
pub struct PresenceState {
    pub provider: Arc<dyn ImProvider>,
    pub store: Arc<dyn MessageStore>,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: PresenceState) -> Router<S> {
    Router::new().route("/presence", get(presence)).with_state(state)
}

/// The OpenAPI description of [`router`]'s route (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(presence))]
pub struct ApiDoc;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PresenceQuery {
    /// Comma-separated accids (required), at most 500.
    #[param(required = true, example = "buyer_01,shop_1")]
    accids: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"presence": {
    "t3": {"online": true, "updated_at": 1608877682237_i64, "clients": [{"client_type": "aos", "online": true,
        "at": 1608877682237_i64, "device_id": "c25f82d0-5f2e-492f-b5cc-3f4a585c25a2", "logout_reason": null}]},
    "shop_1": {"online": false, "updated_at": null, "clients": []}}}))]
pub struct PresenceReply {
    /// Every requested accid, as the request spelled it.
    pub presence: BTreeMap<String, AccountPresence>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountPresence {
    /// Online on at least one client type.
    pub online: bool,
    /// The newest login or logout seen (ms since the epoch), `null` when none was.
    pub updated_at: Option<i64>,
    /// One entry per client type ever seen, as of its newest event.
    pub clients: Vec<ClientPresence>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientPresence {
    /// Lowercased: `aos`, `ios`, `pc`, `web`, `mac`, `harmony`, `rest` (`unknown` when not said).
    pub client_type: String,
    pub online: bool,
    /// When this client type's newest event happened (ms since the epoch).
    pub at: i64,
    /// The device of that event, when the provider named one.
    pub device_id: Option<String>,
    /// Why it went offline, when it did and the provider said: 1 logout, 2 disconnected, 3 kicked by
    /// the account's other device, 4 kicked by the multi-device policy.
    pub logout_reason: Option<i64>,
}

impl AccountPresence {
    fn of(records: &[&PresenceRecord]) -> Self {
        let clients: Vec<ClientPresence> = records
            .iter()
            .map(|r| ClientPresence {
                client_type: r.client_type.clone(),
                online: r.online,
                at: r.at_ms,
                device_id: r.device_id.clone(),
                logout_reason: r.logout_reason,
            })
            .collect();
        AccountPresence {
            online: clients.iter().any(|c| c.online),
            updated_at: clients.iter().map(|c| c.at).max(),
            clients,
        }
    }
}

/// Who of `accids` is online.
///
/// From the provider's login/logout callbacks, kept per (account, client type) with the newest
/// event winning, whatever order they arrived in; a failed login changes nothing. An account is
/// online when any client type is. Every requested accid is in the answer; one never seen is
/// offline with no clients.
#[utoipa::path(
    get,
    path = "/v1/presence",
    operation_id = "presence",
    tag = "presence",
    params(PresenceQuery),
    responses(
        (status = 200, description = "Presence per requested accid", body = PresenceReply),
        (status = 400, description = "An unknown query parameter (`unknown_field`)", body = ErrorBody),
        (status = 422, description = "A missing or invalid accid, or more than 500 (`invalid_field`; `field` names it, e.g. `accids[2]`)", body = ErrorBody),
        (status = 503, description = "The message store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn presence(
    State(state): State<PresenceState>,
    ApiQuery(query): ApiQuery<PresenceQuery>,
) -> Result<Json<PresenceReply>, AppError> {
    let requested: Vec<&str> = match query.accids.as_deref() {
        None | Some("") => return Err(AppError::invalid("accids", "list at least one accid (comma-separated)")),
        Some(list) => list.split(',').map(str::trim).collect(),
    };
    if requested.len() > MAX_ACCIDS {
        return Err(AppError::invalid("accids", format!("at most {MAX_ACCIDS} per request")));
    }
    let entries = requested.iter().enumerate().map(|(i, a)| (*a, Field::at("accids", i)));
    let accids = AccidList::parse(state.provider.as_ref(), entries, MAX_ACCIDS, "accids")?;
    let records = state.store.presence(&accids.distinct_strings()).await?;
    let mut by_accid: BTreeMap<&str, Vec<&PresenceRecord>> = BTreeMap::new();
    for record in &records {
        by_accid.entry(record.accid.as_str()).or_default().push(record);
    }
    let presence = requested
        .iter()
        .map(|raw| {
            let records = by_accid.get(accids.of(raw).as_str()).map(Vec::as_slice).unwrap_or_default();
            ((*raw).to_owned(), AccountPresence::of(records))
        })
        .collect();
    Ok(Json(PresenceReply { presence }))
}
