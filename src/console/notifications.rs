//! The Notifications page: delivery items that failed or are still pending, with the provider's
//! code and description; a failed one can be put back in the queue.

use std::fmt::Write;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::dead_letters::Done;
use super::html::{self, esc, Nav};
use super::{ActionForm, ConsoleState, Session};
use crate::db::now_ms;
use crate::error::{ApiForm, ApiQuery, AppError};

/// Failed items listed, and as many pending ones.
const LISTED: u32 = 50;

pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    ApiQuery(done): ApiQuery<Done>,
) -> Result<Response, AppError> {
    let items = state.outbox.store().needing_attention(LISTED).await?;
    let now = now_ms();
    let mut body = match done.done() {
        "requeued" => html::notice("Put back in the queue with its request id; the worker sends it now.", true),
        "not_failed" => html::notice("That item is no longer failed (already requeued or delivered).", false),
        _ => String::new(),
    };
    if items.is_empty() {
        body.push_str("<p class=\"empty\">Nothing failed or pending.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th>Status</th><th>Notification</th><th>Recipients</th><th>Attempts</th>\
             <th>Provider code</th><th>Description</th><th>Last change</th><th></th></tr></thead><tbody>",
        );
    }
    for item in &items {
        let action = if item.status == "failed" {
            format!(
                "<form method=\"post\" action=\"/console/notifications/retry\">{}\
                 <input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\">Retry</button></form>",
                html::csrf_field(&session),
                item.id
            )
        } else if item.next_attempt_at > now {
            format!("next try in {}", html::duration(item.next_attempt_at - now))
        } else {
            "due".to_owned()
        };
        let _ = write!(
            body,
            "<tr class=\"{status}\"><td>{status}</td><td><code>{}</code><br><small>request id <code>{}</code></small></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            esc(&item.notification_id),
            esc(&item.request_id),
            item.recipient_count,
            item.attempts,
            item.last_code.map_or("–".to_owned(), |c| c.to_string()),
            esc(item.last_desc.as_deref().unwrap_or("–")),
            html::time(item.updated_at),
            status = esc(&item.status),
        );
    }
    if !items.is_empty() {
        body.push_str("</tbody></table>");
    }
    Ok(html::page(Nav::Notifications, &session, &body))
}

pub async fn retry(
    State(state): State<ConsoleState>,
    session: Session,
    ApiForm(form): ApiForm<ActionForm>,
) -> Result<Response, AppError> {
    session.check_csrf(&form.csrf)?;
    let id: i64 = form.id.parse().map_err(|_| AppError::invalid("id", "not a delivery item id"))?;
    let done = if state.outbox.store().requeue_failed(id, now_ms()).await? {
        state.outbox.wake();
        tracing::info!(item = id, "console: failed delivery item requeued");
        "requeued"
    } else {
        "not_failed"
    };
    Ok(Redirect::to(&format!("/console/notifications?done={done}")).into_response())
}
