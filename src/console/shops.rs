//! The Shops page: each shop's agents with their availability, presence and load.

use std::collections::HashSet;
use std::fmt::Write;

use axum::extract::State;
use axum::response::Response;

use super::html::{self, esc, Nav};
use super::{ConsoleState, Session};
use crate::error::AppError;

const LISTED: u32 = 100;

pub async fn page(State(state): State<ConsoleState>, session: Session) -> Result<Response, AppError> {
    let shops = state.routing.shops(LISTED).await?;
    let mut agents = Vec::with_capacity(shops.len());
    for shop in &shops {
        agents.push(state.routing.agents(&shop.shop_id, true).await?);
    }
    // One presence query for every agent of every shop listed.
    let accids: Vec<String> = agents.iter().flatten().map(|a| a.accid.clone()).collect();
    let online: HashSet<String> =
        state.messages.presence(&accids).await?.into_iter().filter(|p| p.online).map(|p| p.accid).collect();
    let mut body = String::new();
    if shops.is_empty() {
        body.push_str("<p class=\"empty\">No shops (define one with <code>PUT /v1/shops/{id}</code>).</p>");
    }
    for (shop, agents) in shops.iter().zip(&agents) {
        let _ = write!(
            body,
            "<section class=\"shop\"><h2>{} <small><code>{}</code> · owner <code>{}</code> · fallback {}</small></h2>",
            esc(&shop.name),
            esc(&shop.shop_id),
            esc(&shop.owner),
            esc(&shop.fallback)
        );
        if agents.is_empty() {
            body.push_str("<p class=\"empty\">No agents: every chat goes to the fallback.</p></section>");
            continue;
        }
        body.push_str(
            "<table><thead><tr><th>Agent</th><th>Availability</th><th>Presence</th><th>Load</th>\
             <th>Last assigned</th></tr></thead><tbody>",
        );
        for agent in agents {
            let presence = if online.contains(&agent.accid) {
                "<span class=\"ok\">online</span>"
            } else {
                "<span class=\"muted\">offline</span>"
            };
            let removed = if agent.active { "" } else { " <small>(removed; still holds chats)</small>" };
            let _ = write!(
                body,
                "<tr><td>{}<br><small><code>{}</code></small>{removed}</td><td>{}</td><td>{presence}</td>\
                 <td><meter min=\"0\" max=\"{cap}\" value=\"{open}\"></meter> {open}/{cap}</td><td>{}</td></tr>",
                esc(agent.name.as_deref().unwrap_or("")),
                esc(&agent.accid),
                esc(&agent.availability),
                agent.last_assigned_at_ms.map_or("never".to_owned(), html::time),
                cap = agent.capacity,
                open = agent.open_assignments,
            );
        }
        body.push_str("</tbody></table></section>");
    }
    Ok(html::page(Nav::Shops, &session, &body))
}
