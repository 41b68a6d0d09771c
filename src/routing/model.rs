//! Routing's request and response types and their validation.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::pick::Reason;
use super::store::{AgentRow, AgentSpec, AssignmentRow, ShopRow, ShopSpec};
use super::RoutingState;
use crate::accid::{check_profile, Accid, Party};
use crate::accounts::AccountToken;
use crate::error::AppError;

const HOUR_MS: f64 = 3_600_000.0;
/// The longest sticky window and idle time a shop may set: a year.
const MAX_HOURS: f64 = 8760.0;
pub const DEFAULT_CAPACITY: i64 = 5;
pub const MAX_CAPACITY: i64 = 1000;
const DEFAULT_STICKY_HOURS: f64 = 72.0;
const DEFAULT_IDLE_CLOSE_HOURS: f64 = 24.0;

/// `PUT /v1/shops/{shop_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Shop One", "owner": "shop_1",
    "agents": [{"account": "shop_1_a1", "name": "Amy", "capacity": 5}, {"account": "shop_1_a2", "name": "Bob", "capacity": 5}],
    "routing": {"sticky_hours": 72, "fallback": "owner", "idle_close_hours": 24}}))]
pub struct PutShop {
    pub name: String,
    /// The shop owner's account (role `seller`); created at the provider when missing.
    pub owner: String,
    /// The shop's customer-service agents (role `agent`, or `seller`), in the order they are shown.
    /// Created at the provider when missing. An agent left out stops getting chats; its open
    /// assignments stay until transferred or closed.
    #[serde(default)]
    pub agents: Vec<AgentInput>,
    pub routing: Option<RoutingInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    pub account: String,
    /// The agent's nickname, used when the account is registered by this call.
    pub name: Option<String>,
    /// Open assignments the agent takes at most (1–1000, default 5).
    pub capacity: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingInput {
    /// A buyer whose last assignment in this shop ended less than this long ago goes back to the
    /// same agent when eligible (0–8760, fractions allowed; default 72).
    pub sticky_hours: Option<f64>,
    /// Who gets a chat no agent can take: the shop `owner` (default) or `none` (409).
    pub fallback: Option<Fallback>,
    /// An open assignment with no message for this long closes by itself (more than 0, at most
    /// 8760, fractions allowed; default 24).
    pub idle_close_hours: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    Owner,
    None,
}

impl Fallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Owner => "owner",
            Fallback::None => "none",
        }
    }
}

/// A shop id: 1–64 of `A-Z a-z 0-9 _ . -`, kept as given.
pub fn shop_id(raw: &str) -> Result<String, AppError> {
    let ok = (1..=64).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(AppError::invalid("shop_id", "1 to 64 of A-Z, a-z, 0-9, `_`, `.`, `-`"));
    }
    Ok(raw.to_owned())
}

/// Validate a shop definition (nothing is looked up or stored).
pub fn shop_spec(state: &RoutingState, body: PutShop) -> Result<ShopSpec, AppError> {
    let provider = state.provider.as_ref();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(AppError::invalid("name", "1 to 128 characters"));
    }
    let owner = Accid::parse(provider, "owner", &body.owner)?.into_string();
    let max = state.max_agents;
    if body.agents.len() > max {
        return Err(AppError::invalid("agents", format!("at most {max} agents (routing.max_agents)")));
    }
    let mut agents: Vec<AgentSpec> = Vec::with_capacity(body.agents.len());
    for (i, agent) in body.agents.into_iter().enumerate() {
        let accid = Accid::parse(provider, format_args!("agents[{i}].account"), &agent.account)?;
        if agents.iter().any(|a| a.accid == accid) {
            return Err(AppError::invalid(format!("agents[{i}].account"), format!("`{accid}` is listed twice")));
        }
        let profile = imbridge_provider::Profile { name: agent.name.clone(), ..Default::default() };
        check_profile(provider, &format!("agents[{i}]"), &profile)?;
        let capacity = agent.capacity.unwrap_or(DEFAULT_CAPACITY);
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(AppError::invalid(format!("agents[{i}].capacity"), format!("1 to {MAX_CAPACITY}")));
        }
        agents.push(AgentSpec { accid: accid.into_string(), name: agent.name, capacity });
    }
    let routing = body.routing.unwrap_or(RoutingInput { sticky_hours: None, fallback: None, idle_close_hours: None });
    let sticky = routing.sticky_hours.unwrap_or(DEFAULT_STICKY_HOURS);
    if !(0.0..=MAX_HOURS).contains(&sticky) {
        return Err(AppError::invalid("routing.sticky_hours", "0 to 8760"));
    }
    let idle = routing.idle_close_hours.unwrap_or(DEFAULT_IDLE_CLOSE_HOURS);
    if !(idle > 0.0 && idle <= MAX_HOURS) {
        return Err(AppError::invalid("routing.idle_close_hours", "more than 0, at most 8760"));
    }
    Ok(ShopSpec {
        name,
        owner,
        agents,
        sticky_ms: (sticky * HOUR_MS).round() as i64,
        // At least a second, so that a tiny fraction still means "idle for a while".
        idle_close_ms: ((idle * HOUR_MS).round() as i64).max(1000),
        fallback: routing.fallback.unwrap_or(Fallback::Owner).as_str().to_owned(),
    })
}

/// A shop as `PUT`/`GET /v1/shops/{shop_id}` show it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"shop_id": "shop_1", "name": "Shop One", "owner": "shop_1",
    "agents": [{"accid": "shop_1_a1", "name": "Amy", "capacity": 5}],
    "routing": {"sticky_hours": 72.0, "fallback": "owner", "idle_close_hours": 24.0},
    "created_at": 1764547200000_i64, "updated_at": 1764547200000_i64}))]
pub struct ShopView {
    pub shop_id: String,
    pub name: String,
    pub owner: String,
    /// The active agents, in list order.
    pub agents: Vec<ShopAgent>,
    pub routing: RoutingView,
    /// ms since the epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopAgent {
    pub accid: String,
    pub name: Option<String>,
    pub capacity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingView {
    pub sticky_hours: f64,
    pub fallback: String,
    pub idle_close_hours: f64,
}

impl ShopView {
    pub fn of(shop: ShopRow, agents: &[AgentRow]) -> Self {
        Self {
            agents: agents
                .iter()
                .filter(|a| a.active)
                .map(|a| ShopAgent { accid: a.accid.clone(), name: a.name.clone(), capacity: a.capacity })
                .collect(),
            routing: RoutingView {
                sticky_hours: shop.sticky_ms as f64 / HOUR_MS,
                fallback: shop.fallback,
                idle_close_hours: shop.idle_close_ms as f64 / HOUR_MS,
            },
            shop_id: shop.shop_id,
            name: shop.name,
            owner: shop.owner,
            created_at: shop.created_at_ms,
            updated_at: shop.updated_at_ms,
        }
    }
}

/// `PUT /v1/shops/{shop_id}/agents/{accid}/availability`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "away"}))]
pub struct SetAvailability {
    pub status: Availability,
}

/// An agent's own choice, separate from presence: only `available` agents get new chats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Available,
    Away,
    Offline,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Away => "away",
            Availability::Offline => "offline",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"agents": [{"accid": "shop_1_a1", "name": "Amy", "availability": "available", "online": true,
    "open_assignments": 3, "capacity": 5, "last_assigned_at": 1764547200000_i64, "active": true}]}))]
pub struct AgentsReply {
    pub agents: Vec<AgentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub accid: String,
    pub name: Option<String>,
    /// `available`, `away` or `offline` (the agent's own choice).
    pub availability: String,
    /// Logged in on any client type, by the provider's login/logout callbacks.
    pub online: bool,
    pub open_assignments: i64,
    pub capacity: i64,
    /// ms since the epoch; `null` when never assigned.
    pub last_assigned_at: Option<i64>,
    /// `false` for an agent removed from the shop that still holds open assignments.
    pub active: bool,
}

impl AgentView {
    pub fn of(row: &AgentRow, online: bool) -> Self {
        Self {
            accid: row.accid.clone(),
            name: row.name.clone(),
            availability: row.availability.clone(),
            online,
            open_assignments: row.open_assignments,
            capacity: row.capacity,
            last_assigned_at: row.last_assigned_at_ms,
            active: row.active,
        }
    }
}

/// `POST /v1/shops/{shop_id}/chats`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"buyer": {"account": "Buyer_01", "name": "Alice"}}))]
pub struct RouteChat {
    pub buyer: Party,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"buyer": {"accid": "buyer_01", "token": "6f1e0c1d6c0a4b8e9d2f3a4b5c6d7e8f", "expires_at": null},
    "agent": {"accid": "shop_1_a1"}, "reason": "least_loaded", "assignment_id": "3f0c1a52-8a4e-4f39-9a53-1c2d3e4f5a6b",
    "friends": true, "reused": false}))]
pub struct ChatRouted {
    pub buyer: AccountToken,
    pub agent: AgentRef,
    pub reason: Reason,
    pub assignment_id: String,
    /// `false` only with a provider that has no server-side friendships.
    pub friends: bool,
    /// The buyer already had this open assignment: no new one was made.
    pub reused: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRef {
    pub accid: String,
}

/// `POST /v1/shops/{shop_id}/assignments/{id}/transfer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "shop_1_a2"}))]
pub struct Transfer {
    /// An agent of the shop (its capacity applies; availability and presence do not: a person
    /// decided), or the shop owner.
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "3f0c1a52-8a4e-4f39-9a53-1c2d3e4f5a6b", "shop_id": "shop_1", "buyer": "buyer_01",
    "agent": "shop_1_a1", "status": "open", "reason": "least_loaded", "transferred_from": null,
    "created_at": 1764547200000_i64, "assigned_at": 1764547200000_i64, "last_activity_at": 1764547200000_i64,
    "closed_at": null, "close_reason": null}))]
pub struct AssignmentView {
    pub id: String,
    pub shop_id: String,
    pub buyer: String,
    pub agent: String,
    /// `open` or `closed`.
    pub status: String,
    /// How the assignment was made: `sticky`, `least_loaded` or `fallback`.
    pub reason: String,
    /// The previous agent, when transferred.
    pub transferred_from: Option<String>,
    /// ms since the epoch.
    pub created_at: i64,
    /// When the current agent got it (creation or the last transfer).
    pub assigned_at: i64,
    /// The newest message seen in the buyer–agent conversation, or `assigned_at`.
    pub last_activity_at: i64,
    pub closed_at: Option<i64>,
    /// `closed` (by the API), `idle` (no message for `idle_close_hours`) or `failed` (the provider
    /// refused to set up the chat).
    pub close_reason: Option<String>,
}

impl From<AssignmentRow> for AssignmentView {
    fn from(row: AssignmentRow) -> Self {
        Self {
            id: row.id,
            shop_id: row.shop_id,
            buyer: row.buyer,
            agent: row.agent,
            status: row.status,
            reason: row.reason,
            transferred_from: row.transferred_from,
            created_at: row.created_at_ms,
            assigned_at: row.assigned_at_ms,
            last_activity_at: row.activity_at_ms,
            closed_at: row.closed_at_ms,
            close_reason: row.close_reason,
        }
    }
}

/// `GET /v1/shops/{shop_id}/assignments`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssignmentQuery {
    /// `open`, `closed` or `all` (default).
    pub status: Option<String>,
    /// Only this agent's.
    pub agent: Option<String>,
    /// Only this buyer's.
    pub buyer: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentPage {
    /// Newest first.
    pub assignments: Vec<AssignmentView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// `{shop_id}` and `{shop_id}/…/{id}` paths.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ShopPath {
    #[param(example = "shop_1")]
    pub shop_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AgentPath {
    #[param(example = "shop_1")]
    pub shop_id: String,
    #[param(example = "shop_1_a1")]
    pub accid: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AssignmentPath {
    #[param(example = "shop_1")]
    pub shop_id: String,
    /// The assignment id (`assignment_id` of the routing answer).
    pub id: String,
}
