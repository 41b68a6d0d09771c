//! Customer-service routing: shops with agents, availability and capacity, sticky routing,
//! transfers, idle close.
//!
//! - `PUT  /v1/shops/{shop_id}`                                    define a shop (idempotent)
//! - `GET  /v1/shops/{shop_id}`
//! - `GET  /v1/shops/{shop_id}/agents`                             availability, presence, load
//! - `PUT  /v1/shops/{shop_id}/agents/{accid}/availability`
//! - `POST /v1/shops/{shop_id}/chats`                              route a buyer to an agent
//! - `GET  /v1/shops/{shop_id}/assignments`
//! - `POST /v1/shops/{shop_id}/assignments/{id}/transfer`, `…/close`
//!
//! An agent is **eligible** when its availability is `available`, it is online by presence (any
//! client type) and it holds fewer open assignments than its capacity. A buyer with an open
//! assignment gets it back; otherwise the rule of [`pick`] chooses, inside one transaction that
//! holds the shop's lock ([`store`]), so capacity and "one open assignment per buyer and shop"
//! hold under any concurrency, across instances sharing the SQL database.

mod model;
pub mod pick;
pub mod store;
mod sweep;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use imbridge_provider::ImProvider;
use utoipa::OpenApi;

pub use model::{Availability, Fallback};
pub use store::RoutingStore;
pub use sweep::{start_sweeper, sweep_once};

use model::*;
use store::{AgentRow, AssignmentFilter, ClaimRequest, Claimed, ShopRow, Transferred};

use crate::accid::{validate_party, Accid};
use crate::accounts::{new_request_id, AccountService, AccountToken, ChatPolicy, Role};
use crate::db::now_ms;
use crate::error::{ApiJson, ApiPath, ApiQuery, AppError, ErrorBody};
use crate::messages::MessageStore;

/// What the routing routes need (derived from the app's state with [`FromRef`]).
#[derive(Clone)]
pub struct RoutingState {
    pub provider: Arc<dyn ImProvider>,
    pub accounts: AccountService,
    pub routing: RoutingStore,
    /// Agents' presence.
    pub messages: Arc<dyn MessageStore>,
    pub chat_policy: ChatPolicy,
    /// `routing.retry_after_secs`.
    pub retry_after: Duration,
    /// `routing.max_agents`.
    pub max_agents: usize,
}

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    RoutingState: FromRef<S>,
{
    Router::new()
        .route("/shops/{shop_id}", put(put_shop).get(get_shop))
        .route("/shops/{shop_id}/agents", get(list_agents))
        .route("/shops/{shop_id}/agents/{accid}/availability", put(set_availability))
        .route("/shops/{shop_id}/chats", post(route_chat))
        .route("/shops/{shop_id}/assignments", get(list_assignments))
        .route("/shops/{shop_id}/assignments/{id}/transfer", post(transfer))
        .route("/shops/{shop_id}/assignments/{id}/close", post(close))
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(put_shop, get_shop, list_agents, set_availability, route_chat, list_assignments, transfer, close))]
pub struct ApiDoc;

/// `imbridge_routing_decisions_total{outcome}`: `sticky`, `least_loaded`, `fallback`, `reused`,
/// `no_agent`, `policy_denied` or `failed` (the provider refused to set the chat up).
fn count(outcome: &'static str) {
    metrics::counter!("imbridge_routing_decisions_total", "outcome" => outcome).increment(1);
}

/// A role the account has, or the one its slot gives it.
fn agent_role(agent: &AgentRow) -> Role {
    agent.role.as_deref().and_then(Role::parse).unwrap_or(Role::Agent)
}

async fn find_shop(state: &RoutingState, shop_id: &str) -> Result<ShopRow, AppError> {
    state.routing.shop(shop_id).await?.ok_or_else(|| AppError::NotFound(format!("no shop `{shop_id}`")))
}

/// Which of `accids` are online on any client type.
async fn online(state: &RoutingState, accids: Vec<String>) -> Result<HashSet<String>, AppError> {
    if accids.is_empty() {
        return Ok(HashSet::new());
    }
    let records = state.messages.presence(&accids).await?;
    Ok(records.into_iter().filter(|r| r.online).map(|r| r.accid).collect())
}

/// Define a shop: its owner, agents and routing settings.
///
/// Creates missing provider accounts for the owner (role `seller`) and the agents (role `agent`;
/// a `seller` may also serve as an agent). Idempotent; replaces the previous definition. An agent
/// left out gets no new chats but its open assignments stay until transferred or closed; agents
/// keep their availability and load across updates. Lowering a capacity below an agent's open
/// assignments closes nothing: it gets no new chat until it is below again.
#[utoipa::path(
    put,
    path = "/v1/shops/{shop_id}",
    operation_id = "put_shop",
    tag = "routing",
    params(ShopPath),
    request_body = PutShop,
    responses(
        (status = 200, description = "The shop", body = ShopView),
        (status = 400, description = "Not JSON, an unknown field or a malformed path (`invalid_json`, `unknown_field`, `invalid_request`)", body = ErrorBody),
        (status = 409, description = "The owner or an agent already has a role that does not fit (`role_conflict`); checked before any provider call", body = ErrorBody),
        (status = 422, description = "A refused value (`invalid_field`, e.g. `agents[1].capacity`)", body = ErrorBody),
        (status = 502, description = "The provider refused to create an account (`provider_rejected`)", body = ErrorBody),
        (status = 503, description = "The provider or the database is unreachable", body = ErrorBody),
    )
)]
async fn put_shop(
    State(state): State<RoutingState>,
    ApiPath(ShopPath { shop_id }): ApiPath<ShopPath>,
    ApiJson(body): ApiJson<PutShop>,
) -> Result<Json<ShopView>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    let spec = model::shop_spec(&state, body)?;
    let accounts = &state.accounts;
    let fits = |role: Role, slot: Role| role == slot || (slot == Role::Agent && role == Role::Seller);
    let mut slots: Vec<(&str, Role, Option<&str>)> = vec![(&spec.owner, Role::Seller, None)];
    slots.extend(spec.agents.iter().map(|a| (a.accid.as_str(), Role::Agent, a.name.as_deref())));
    for (accid, slot) in slots.iter().map(|(a, s, _)| (*a, *s)) {
        let role = accounts.role_in_slot(accid, slot).await?;
        if !fits(role, slot) {
            return Err(role_conflict(accid, role, slot));
        }
    }
    for (accid, slot, name) in &slots {
        let profile = imbridge_provider::Profile { name: name.map(str::to_owned), ..Default::default() };
        accounts.ensure(accid, &profile).await?;
        let role = accounts.claim_role(accid, *slot).await?;
        if !fits(role, *slot) {
            return Err(role_conflict(accid, role, *slot));
        }
    }
    state.routing.put_shop(&shop_id, &spec, now_ms()).await?;
    let shop = find_shop(&state, &shop_id).await?;
    let agents = state.routing.agents(&shop_id, false).await?;
    Ok(Json(ShopView::of(shop, &agents)))
}

fn role_conflict(accid: &str, role: Role, slot: Role) -> AppError {
    let wanted =
        if slot == Role::Seller { "a shop owner must be a seller" } else { "an agent must be an agent or a seller" };
    AppError::RoleConflict(format!("account `{accid}` is a {role}; {wanted}"))
}

/// A shop's definition.
#[utoipa::path(
    get,
    path = "/v1/shops/{shop_id}",
    operation_id = "get_shop",
    tag = "routing",
    params(ShopPath),
    responses(
        (status = 200, description = "The shop", body = ShopView),
        (status = 404, description = "No such shop (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a valid shop id (`invalid_field`)", body = ErrorBody),
    )
)]
async fn get_shop(
    State(state): State<RoutingState>,
    ApiPath(ShopPath { shop_id }): ApiPath<ShopPath>,
) -> Result<Json<ShopView>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    let shop = find_shop(&state, &shop_id).await?;
    let agents = state.routing.agents(&shop_id, false).await?;
    Ok(Json(ShopView::of(shop, &agents)))
}

/// The shop's agents with availability, presence and load.
///
/// Active agents in list order, then removed agents that still hold open assignments
/// (`active: false`). `online` is read from presence at the time of the request.
#[utoipa::path(
    get,
    path = "/v1/shops/{shop_id}/agents",
    operation_id = "list_shop_agents",
    tag = "routing",
    params(ShopPath),
    responses(
        (status = 200, description = "The agents", body = AgentsReply),
        (status = 404, description = "No such shop (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a valid shop id (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "A store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn list_agents(
    State(state): State<RoutingState>,
    ApiPath(ShopPath { shop_id }): ApiPath<ShopPath>,
) -> Result<Json<AgentsReply>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    find_shop(&state, &shop_id).await?;
    let agents = state.routing.agents(&shop_id, true).await?;
    let online = online(&state, agents.iter().map(|a| a.accid.clone()).collect()).await?;
    Ok(Json(AgentsReply { agents: agents.iter().map(|a| AgentView::of(a, online.contains(&a.accid))).collect() }))
}

/// Set an agent's availability: `available`, `away` or `offline`.
///
/// The agent's own choice, separate from presence: only `available` agents that are also online
/// get new chats. Open assignments are not touched.
#[utoipa::path(
    put,
    path = "/v1/shops/{shop_id}/agents/{accid}/availability",
    operation_id = "set_agent_availability",
    tag = "routing",
    params(AgentPath),
    request_body = SetAvailability,
    responses(
        (status = 200, description = "The agent", body = AgentView),
        (status = 400, description = "Not JSON or an unknown field", body = ErrorBody),
        (status = 404, description = "No such shop, or not one of its agents (`not_found`)", body = ErrorBody),
        (status = 422, description = "A refused value, e.g. `status` (`invalid_field`)", body = ErrorBody),
    )
)]
async fn set_availability(
    State(state): State<RoutingState>,
    ApiPath(AgentPath { shop_id, accid }): ApiPath<AgentPath>,
    ApiJson(body): ApiJson<SetAvailability>,
) -> Result<Json<AgentView>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    let accid = Accid::parse(state.provider.as_ref(), "accid", &accid)?;
    find_shop(&state, &shop_id).await?;
    if !state.routing.set_availability(&shop_id, &accid, body.status.as_str(), now_ms()).await? {
        return Err(AppError::NotFound(format!("`{accid}` is not an agent of shop `{shop_id}`")));
    }
    let agents = state.routing.agents(&shop_id, false).await?;
    let agent = agents.iter().find(|a| a.accid == accid).ok_or_else(|| AppError::NotFound("agent removed".into()))?;
    let online = online(&state, vec![accid.to_string()]).await?;
    Ok(Json(AgentView::of(agent, online.contains(accid.as_str()))))
}

/// Route a buyer's chat to an agent of the shop.
///
/// Creates or gets the buyer's account and token, picks the agent, makes buyer and agent friends
/// at the provider and records the assignment. A buyer with an open assignment in the shop gets
/// the same agent back (`reused: true`). Otherwise: the agent of the buyer's last assignment
/// within `sticky_hours` if eligible (`sticky`), else the least-loaded eligible agent
/// (`least_loaded`; ties → the longest since its last assignment), else the owner (`fallback`)
/// or 409 when the shop's fallback is `none`.
#[utoipa::path(
    post,
    path = "/v1/shops/{shop_id}/chats",
    operation_id = "route_chat",
    tag = "routing",
    params(ShopPath),
    request_body = RouteChat,
    responses(
        (status = 200, description = "The buyer's token and the agent", body = ChatRouted),
        (status = 400, description = "Not JSON, or an unknown field", body = ErrorBody),
        (status = 403, description = "`chat_policy` forbids the buyer's role with the agent's (`policy_denied`); nothing was called", body = ErrorBody),
        (status = 404, description = "No such shop (`not_found`)", body = ErrorBody),
        (status = 409, description = "No agent is available and the shop's fallback is `none` (`no_agent_available`)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (routing.retry_after_secs)"))),
        (status = 422, description = "A refused value, e.g. `buyer.account`, or the buyer is the shop's owner or agent (`invalid_field`)", body = ErrorBody),
        (status = 502, description = "The provider refused (`provider_rejected`); no assignment is kept", body = ErrorBody),
        (status = 503, description = "The provider or a store is unreachable; no assignment is kept", body = ErrorBody),
    )
)]
async fn route_chat(
    State(state): State<RoutingState>,
    ApiPath(ShopPath { shop_id }): ApiPath<ShopPath>,
    ApiJson(body): ApiJson<RouteChat>,
) -> Result<Json<ChatRouted>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    let (buyer, profile) = validate_party(state.provider.as_ref(), "buyer", body.buyer)?;
    let shop = find_shop(&state, &shop_id).await?;
    let agents = state.routing.agents(&shop_id, false).await?;
    if buyer == shop.owner || agents.iter().any(|a| a.accid == buyer) {
        return Err(AppError::invalid("buyer.account", "is this shop's owner or one of its agents"));
    }
    let policy = &state.chat_policy;
    let buyer_role = state.accounts.role_in_slot(&buyer, Role::Buyer).await?;
    if !policy.allows(buyer_role, Role::Agent) && !policy.allows(buyer_role, Role::Seller) {
        count("policy_denied");
        policy.check(buyer_role, Role::Agent)?;
    }
    let allowed: Vec<String> =
        agents.iter().filter(|a| policy.allows(buyer_role, agent_role(a))).map(|a| a.accid.clone()).collect();
    let allowed_count = allowed.len();
    let eligible = online(&state, allowed).await?;
    let now = now_ms();
    let sticky = state
        .routing
        .latest_assignment(&shop_id, &buyer)
        .await?
        .filter(|last| last.closed_at_ms.unwrap_or(now) >= now - shop.sticky_ms)
        .map(|last| last.agent);
    let owner_fallback = shop.fallback == Fallback::Owner.as_str();
    let owner_allowed = policy.allows(buyer_role, Role::Seller);
    let request = ClaimRequest {
        shop_id: &shop_id,
        buyer: &buyer,
        eligible: &eligible,
        sticky: sticky.as_deref(),
        fallback: (owner_fallback && owner_allowed).then_some(shop.owner.as_str()),
        now,
    };
    let (assignment, created) = match state.routing.claim(&request).await? {
        Claimed::Existing(open) => (open, false),
        Claimed::Created(new) => (new, true),
        // Say "policy" when the policy is what leaves nobody to route to.
        Claimed::NoAgent if owner_fallback => {
            count("policy_denied");
            return Err(denied(policy.check(buyer_role, Role::Seller)));
        }
        Claimed::NoAgent if !agents.is_empty() && allowed_count == 0 => {
            count("policy_denied");
            return Err(denied(policy.check(buyer_role, Role::Agent)));
        }
        Claimed::NoAgent => {
            count("no_agent");
            return Err(AppError::NoAgentAvailable {
                message: format!("no agent of shop `{shop_id}` is available, online and below capacity; retry later"),
                retry_after: state.retry_after,
            });
        }
    };
    match connect(&state, &buyer, &profile, &assignment.agent).await {
        Ok((buyer, friends)) => {
            count(if created { pick::Reason::parse(&assignment.reason).as_str() } else { "reused" });
            Ok(Json(ChatRouted {
                buyer,
                agent: AgentRef { accid: assignment.agent },
                reason: pick::Reason::parse(&assignment.reason),
                assignment_id: assignment.id,
                friends,
                reused: !created,
            }))
        }
        Err(err) => {
            count("failed");
            if created {
                // The chat could not be set up: do not hold the agent's slot for it.
                if let Err(db) = state.routing.close(&shop_id, &assignment.id, "failed", None, now_ms()).await {
                    tracing::warn!(error = %db, assignment = %assignment.id, "could not close a failed assignment");
                }
            }
            Err(err)
        }
    }
}

/// The refusal of a policy check that must have failed (the claim found the pair forbidden).
fn denied(check: Result<(), AppError>) -> AppError {
    check.err().unwrap_or_else(|| AppError::internal("routing found no target although the policy allows one"))
}

/// The provider side of a routed chat: the buyer's account and token, its role, the friendship.
async fn connect(
    state: &RoutingState,
    buyer: &Accid,
    profile: &imbridge_provider::Profile,
    agent: &str,
) -> Result<(AccountToken, bool), AppError> {
    let ensured = state.accounts.ensure(buyer, profile).await?;
    let buyer_role = state.accounts.claim_role(buyer, Role::Buyer).await?;
    let agent_role = state.accounts.role_in_slot(agent, Role::Agent).await?;
    state.chat_policy.check(buyer_role, agent_role)?;
    let friends = state.provider.supports_friendship();
    if friends {
        state.provider.add_friend(buyer, agent, &new_request_id()).await?;
    }
    Ok((state.accounts.credential(&ensured.account), friends))
}

/// A page of the shop's assignments, newest first.
#[utoipa::path(
    get,
    path = "/v1/shops/{shop_id}/assignments",
    operation_id = "list_assignments",
    tag = "routing",
    params(ShopPath, AssignmentQuery),
    responses(
        (status = 200, description = "A page", body = AssignmentPage),
        (status = 400, description = "An unknown query parameter (`unknown_field`)", body = ErrorBody),
        (status = 404, description = "No such shop (`not_found`)", body = ErrorBody),
        (status = 422, description = "A refused value (`invalid_field`: `status`, `agent`, `buyer`, `limit`, `cursor`)", body = ErrorBody),
    )
)]
async fn list_assignments(
    State(state): State<RoutingState>,
    ApiPath(ShopPath { shop_id }): ApiPath<ShopPath>,
    ApiQuery(query): ApiQuery<AssignmentQuery>,
) -> Result<Json<AssignmentPage>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    let provider = state.provider.as_ref();
    let status = match query.status.as_deref() {
        None | Some("all") => None,
        Some(s @ ("open" | "closed")) => Some(s.to_owned()),
        Some(_) => return Err(AppError::invalid("status", "open, closed or all")),
    };
    let agent =
        query.agent.as_deref().map(|a| Accid::parse(provider, "agent", a).map(Accid::into_string)).transpose()?;
    let buyer =
        query.buyer.as_deref().map(|b| Accid::parse(provider, "buyer", b).map(Accid::into_string)).transpose()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "1 to 200"));
    }
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            c.split_once(':')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .filter(|(_, id)| !id.is_empty() && id.len() <= 36)
                .ok_or_else(|| AppError::invalid("cursor", "not a cursor this API returned"))
        })
        .transpose()?;
    find_shop(&state, &shop_id).await?;
    let filter = AssignmentFilter { status, agent, buyer, before, limit: limit + 1 };
    let mut rows = state.routing.list(&shop_id, &filter).await?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| format!("{}:{}", r.created_at_ms, r.id))
    } else {
        None
    };
    Ok(Json(AssignmentPage { assignments: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Transfer an open assignment to another agent of the shop (or to its owner).
///
/// The target's capacity is checked (its availability and presence are not: a person decided),
/// buyer and target are made friends, and the old agent's slot is freed. The buyer's next sticky
/// agent is the new one.
#[utoipa::path(
    post,
    path = "/v1/shops/{shop_id}/assignments/{id}/transfer",
    operation_id = "transfer_assignment",
    tag = "routing",
    params(AssignmentPath),
    request_body = Transfer,
    responses(
        (status = 200, description = "The assignment, now with the new agent", body = AssignmentView),
        (status = 403, description = "`chat_policy` forbids the buyer's role with the target's (`policy_denied`)", body = ErrorBody),
        (status = 404, description = "No such shop or assignment (`not_found`)", body = ErrorBody),
        (status = 409, description = "The assignment is closed, or the target is at capacity (`conflict`)", body = ErrorBody),
        (status = 422, description = "`to` is not an agent of the shop nor its owner (`invalid_field`)", body = ErrorBody),
        (status = 502, description = "The provider refused the friendship (`provider_rejected`); nothing changed", body = ErrorBody),
    )
)]
async fn transfer(
    State(state): State<RoutingState>,
    ApiPath(AssignmentPath { shop_id, id }): ApiPath<AssignmentPath>,
    ApiJson(body): ApiJson<Transfer>,
) -> Result<Json<AssignmentView>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    let to = Accid::parse(state.provider.as_ref(), "to", &body.to)?;
    let shop = find_shop(&state, &shop_id).await?;
    let agents = state.routing.agents(&shop_id, false).await?;
    let target = agents.iter().find(|a| a.accid == to);
    let (counted, to_role) = match target {
        Some(agent) => (true, agent_role(agent)),
        None if to == shop.owner => (false, Role::Seller),
        None => {
            return Err(AppError::invalid("to", format!("`{to}` is not an agent of shop `{shop_id}` nor its owner")))
        }
    };
    let current = assignment(&state, &shop_id, &id).await?;
    if !current.is_open() {
        return Err(AppError::Conflict(format!("assignment `{id}` is closed")));
    }
    if current.agent == to {
        return Ok(Json(current.into()));
    }
    if let Some(agent) = target.filter(|a| a.open_assignments >= a.capacity) {
        return Err(at_capacity(&to, agent.capacity));
    }
    let buyer_role = state.accounts.role_in_slot(&current.buyer, Role::Buyer).await?;
    state.chat_policy.check(buyer_role, to_role)?;
    if state.provider.supports_friendship() {
        state.provider.add_friend(&current.buyer, &to, &new_request_id()).await?;
    }
    match state.routing.transfer(&shop_id, &id, &to, counted, now_ms()).await? {
        Transferred::Done(row) => Ok(Json(row.into())),
        Transferred::Full { capacity } => Err(at_capacity(&to, capacity)),
        Transferred::NotOpen(_) => Err(AppError::Conflict(format!("assignment `{id}` is closed"))),
        Transferred::NotFound => Err(no_assignment(&shop_id, &id)),
    }
}

fn at_capacity(agent: &str, capacity: i64) -> AppError {
    AppError::Conflict(format!("agent `{agent}` is at capacity ({capacity} open assignments)"))
}

fn no_assignment(shop_id: &str, id: &str) -> AppError {
    AppError::NotFound(format!("no assignment `{id}` in shop `{shop_id}`"))
}

async fn assignment(state: &RoutingState, shop_id: &str, id: &str) -> Result<store::AssignmentRow, AppError> {
    state.routing.assignment(shop_id, id).await?.ok_or_else(|| no_assignment(shop_id, id))
}

/// Close an assignment: frees the agent's slot. Closing a closed one changes nothing.
#[utoipa::path(
    post,
    path = "/v1/shops/{shop_id}/assignments/{id}/close",
    operation_id = "close_assignment",
    tag = "routing",
    params(AssignmentPath),
    responses(
        (status = 200, description = "The assignment, closed", body = AssignmentView),
        (status = 404, description = "No such shop or assignment (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a valid shop id (`invalid_field`)", body = ErrorBody),
    )
)]
async fn close(
    State(state): State<RoutingState>,
    ApiPath(AssignmentPath { shop_id, id }): ApiPath<AssignmentPath>,
) -> Result<Json<AssignmentView>, AppError> {
    let shop_id = model::shop_id(&shop_id)?;
    find_shop(&state, &shop_id).await?;
    match state.routing.close(&shop_id, &id, "closed", None, now_ms()).await? {
        Some(row) => Ok(Json(row.into())),
        None => Err(no_assignment(&shop_id, &id)),
    }
}
