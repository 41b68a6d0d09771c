//! Unread counts for the order page: how many unread chat messages `accid` has from each peer.
//!
//! `GET /v1/unread?accid=buyer_01&peers=shop_1,shop_2` and `POST /v1/unread` with `peers` and/or
//! `orders`. One store query per request, whatever the number of peers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use imbridge_provider::ImProvider;
use serde::{Deserialize, Serialize};

use crate::error::{ApiJson, ApiQuery, AppError};
use crate::messages::MessageStore;

/// The most peers (distinct, after lowercasing) one request may ask about.
pub const MAX_PEERS: usize = 1000;

#[derive(Clone)]
pub struct UnreadState {
    pub provider: Arc<dyn ImProvider>,
    pub store: Arc<dyn MessageStore>,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: UnreadState) -> Router<S> {
    Router::new().route("/unread", get(by_query).post(by_body)).with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnreadQuery {
    accid: Option<String>,
    /// Comma-separated.
    peers: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnreadBody {
    accid: Option<String>,
    #[serde(default)]
    peers: Vec<String>,
    #[serde(default)]
    orders: Vec<OrderPeer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderPeer {
    order_id: String,
    peer: String,
}

#[derive(Debug, Serialize)]
pub struct UnreadReply {
    pub accid: String,
    /// Every requested peer (from `peers` and `orders`), as the request spelled it, zero included.
    pub unread: BTreeMap<String, u64>,
    /// The sum over distinct peers.
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<BTreeMap<String, u64>>,
}

async fn by_query(
    State(state): State<UnreadState>,
    ApiQuery(query): ApiQuery<UnreadQuery>,
) -> Result<Json<UnreadReply>, AppError> {
    let peers: Vec<String> = match query.peers.as_deref() {
        None | Some("") => return Err(bad("peers", "list at least one peer (comma-separated)")),
        Some(list) => list.split(',').map(|p| p.trim().to_owned()).collect(),
    };
    answer(&state, query.accid, peers, Vec::new()).await.map(Json)
}

async fn by_body(
    State(state): State<UnreadState>,
    ApiJson(body): ApiJson<UnreadBody>,
) -> Result<Json<UnreadReply>, AppError> {
    if body.peers.is_empty() && body.orders.is_empty() {
        return Err(bad("peers", "give `peers` or `orders` (at least one entry)"));
    }
    answer(&state, body.accid, body.peers, body.orders).await.map(Json)
}

fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::BadRequest { code: "invalid_field", message: message.into(), field: Some(field.to_owned()) }
}

async fn answer(
    state: &UnreadState,
    accid: Option<String>,
    peers: Vec<String>,
    orders: Vec<OrderPeer>,
) -> Result<UnreadReply, AppError> {
    let accid = match accid.as_deref() {
        None | Some("") => return Err(bad("accid", "required")),
        Some(a) => state.provider.normalize_account(a).map_err(|e| bad("accid", e.reason))?,
    };
    // Requested spelling → canonical accid, for peers and for each order's peer.
    let mut canonical: HashMap<String, String> = HashMap::new();
    let mut wanted: Vec<String> = Vec::new();
    let mut add = |field: String, peer: &str| -> Result<(), AppError> {
        if canonical.contains_key(peer) {
            return Ok(());
        }
        let norm = state.provider.normalize_account(peer).map_err(|e| bad(&field, e.reason))?;
        if !wanted.contains(&norm) {
            wanted.push(norm.clone());
        }
        canonical.insert(peer.to_owned(), norm);
        Ok(())
    };
    for (i, peer) in peers.iter().enumerate() {
        add(format!("peers[{i}]"), peer)?;
    }
    for (i, order) in orders.iter().enumerate() {
        if order.order_id.is_empty() {
            return Err(bad(&format!("orders[{i}].order_id"), "required"));
        }
        add(format!("orders[{i}].peer"), &order.peer)?;
    }
    if wanted.len() > MAX_PEERS {
        return Err(bad("peers", format!("at most {MAX_PEERS} distinct peers per request")));
    }

    let started = Instant::now();
    let counts = state.store.unread(&accid, &wanted).await.map_err(|err| {
        if err.is_unavailable() {
            AppError::Unavailable("the message store")
        } else {
            AppError::internal(err)
        }
    })?;
    metrics::histogram!("imbridge_unread_query_duration_seconds").record(started.elapsed().as_secs_f64());

    let count_of = |norm: &str| counts.get(norm).copied().unwrap_or(0);
    let total = wanted.iter().map(|p| count_of(p)).sum();
    // Every requested peer, from `peers` and from `orders`, as the request spelled it.
    let unread =
        peers.iter().chain(orders.iter().map(|o| &o.peer)).map(|p| (p.clone(), count_of(&canonical[p]))).collect();
    let orders = (!orders.is_empty())
        .then(|| orders.iter().map(|o| (o.order_id.clone(), count_of(&canonical[&o.peer]))).collect());
    Ok(UnreadReply { accid, unread, total, orders })
}
