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
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::accid::{Accid, AccidList, Field};
use crate::error::{ApiJson, ApiQuery, AppError, ErrorBody};
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

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(by_query, by_body))]
pub struct ApiDoc;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UnreadQuery {
    /// The reader (required).
    #[param(required = true, example = "buyer_01")]
    accid: Option<String>,
    /// Comma-separated peers (required), at most 1000 distinct.
    #[param(required = true, example = "shop_1,shop_2")]
    peers: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"accid": "buyer_01", "orders": [{"order_id": "o-1", "peer": "shop_1"}, {"order_id": "o-2", "peer": "shop_2"}]}))]
struct UnreadBody {
    /// The reader (required).
    #[schema(required = true, value_type = String)]
    accid: Option<String>,
    /// Peers to count (at most 1000 entries); `peers` and `orders` together name at least one and at
    /// most 1000 distinct.
    #[serde(default)]
    peers: Vec<String>,
    /// Orders and the peer of each (at most 1000, each `order_id` once); the answer adds a count per
    /// order.
    #[serde(default)]
    orders: Vec<OrderPeer>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrderPeer {
    order_id: String,
    peer: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accid": "buyer_01", "unread": {"shop_1": 1, "shop_2": 0}, "total": 1, "orders": {"o-1": 1, "o-2": 0}}))]
pub struct UnreadReply {
    /// The reader's canonical accid.
    pub accid: String,
    /// Every requested peer (from `peers` and `orders`), as the request spelled it, zero included.
    pub unread: BTreeMap<String, u64>,
    /// The sum over distinct peers.
    pub total: u64,
    /// Per requested order id, its peer's count (only when `orders` were asked about).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<BTreeMap<String, u64>>,
}

/// Unread counts of `accid` from each of `peers`.
///
/// unread(self, peer) = one-to-one chat messages from `peer` to `self` sent after self's read
/// watermark for peer and not recalled; system notifications never count. One store query per
/// request; every requested peer is in the answer, zeros included.
#[utoipa::path(
    get,
    path = "/v1/unread",
    operation_id = "unread_by_query",
    tag = "unread",
    params(UnreadQuery),
    responses(
        (status = 200, description = "A count per requested peer", body = UnreadReply,
            example = json!({"accid": "buyer_01", "unread": {"shop_1": 1, "shop_2": 0}, "total": 1})),
        (status = 400, description = "An unknown query parameter (`unknown_field`, `field` names it)", body = ErrorBody),
        (status = 422, description = "A missing or invalid `accid` or peer, or more than 1000 peers (`invalid_field`, `field` names it)", body = ErrorBody),
        (status = 503, description = "The message store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn by_query(
    State(state): State<UnreadState>,
    ApiQuery(query): ApiQuery<UnreadQuery>,
) -> Result<Json<UnreadReply>, AppError> {
    let peers: Vec<String> = match query.peers.as_deref() {
        None | Some("") => return Err(AppError::invalid("peers", "list at least one peer (comma-separated)")),
        Some(list) => list.split(',').map(|p| p.trim().to_owned()).collect(),
    };
    answer(&state, query.accid, peers, Vec::new()).await.map(Json)
}

/// Unread counts of `accid` from each peer, and per order.
///
/// The same counts as `GET /v1/unread`, for long peer lists and for order pages: each entry of
/// `orders` names an order and its peer, and the answer's `orders` maps each order id to its
/// peer's count.
#[utoipa::path(
    post,
    path = "/v1/unread",
    operation_id = "unread_by_body",
    tag = "unread",
    request_body = UnreadBody,
    responses(
        (status = 200, description = "A count per requested peer (and per order)", body = UnreadReply),
        (status = 400, description = "Not JSON, or an unknown field (`invalid_json`, `unknown_field`)", body = ErrorBody),
        (status = 422, description = "A missing, invalid or mistyped `accid`, peer or `order_id`, a duplicate `order_id`, no peers, or more than 1000 entries or distinct peers (`invalid_field`; `field` names it, e.g. `orders[3].order_id`)", body = ErrorBody),
        (status = 503, description = "The message store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn by_body(
    State(state): State<UnreadState>,
    ApiJson(body): ApiJson<UnreadBody>,
) -> Result<Json<UnreadReply>, AppError> {
    if body.peers.is_empty() && body.orders.is_empty() {
        return Err(AppError::invalid("peers", "give `peers` or `orders` (at least one entry)"));
    }
    answer(&state, body.accid, body.peers, body.orders).await.map(Json)
}

async fn answer(
    state: &UnreadState,
    accid: Option<String>,
    peers: Vec<String>,
    orders: Vec<OrderPeer>,
) -> Result<UnreadReply, AppError> {
    // Bounds first, before any per-entry work: a body within the size limit can carry tens of
    // thousands of entries.
    if peers.len() > MAX_PEERS {
        return Err(AppError::invalid("peers", format!("at most {MAX_PEERS} entries per request")));
    }
    if orders.len() > MAX_PEERS {
        return Err(AppError::invalid("orders", format!("at most {MAX_PEERS} entries per request")));
    }
    let accid = match accid.as_deref() {
        None | Some("") => return Err(AppError::invalid("accid", "required")),
        Some(a) => Accid::parse(state.provider.as_ref(), "accid", a)?,
    };
    let mut order_ids: HashMap<&str, usize> = HashMap::with_capacity(orders.len());
    for (i, order) in orders.iter().enumerate() {
        if order.order_id.is_empty() {
            return Err(AppError::invalid(format!("orders[{i}].order_id"), "required"));
        }
        if let Some(first) = order_ids.insert(&order.order_id, i) {
            return Err(AppError::invalid(
                format!("orders[{i}].order_id"),
                format!("duplicate order id `{}` (also orders[{first}])", order.order_id),
            ));
        }
    }
    let peer_entries = peers.iter().enumerate().map(|(i, p)| (p.as_str(), Field::at("peers", i)));
    let order_entries =
        orders.iter().enumerate().map(|(i, o)| (o.peer.as_str(), Field { list: "orders", index: i, member: ".peer" }));
    let named = AccidList::parse(state.provider.as_ref(), peer_entries.chain(order_entries), MAX_PEERS, "peers")?;
    let wanted = &named.distinct_strings();

    let started = Instant::now();
    let counts = state.store.unread(&accid, wanted).await?;
    metrics::histogram!("imbridge_unread_query_duration_seconds").record(started.elapsed().as_secs_f64());

    let count_of = |norm: &str| counts.get(norm).copied().unwrap_or(0);
    let total = wanted.iter().map(|p| count_of(p)).sum();
    // Every requested peer, from `peers` and from `orders`, as the request spelled it.
    let unread =
        peers.iter().chain(orders.iter().map(|o| &o.peer)).map(|p| (p.clone(), count_of(named.of(p)))).collect();
    let orders = (!orders.is_empty())
        .then(|| orders.iter().map(|o| (o.order_id.clone(), count_of(named.of(&o.peer)))).collect());
    Ok(UnreadReply { accid: accid.into_string(), unread, total, orders })
}
