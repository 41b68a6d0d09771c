//! The Dead letters page: signed callbacks the parser refused, each with a replay button.

use std::fmt::Write;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{self, esc, Nav};
use super::{ActionForm, ConsoleState, Session};
use crate::error::{ApiForm, ApiQuery, AppError};
use crate::replay::{replay_dead_letter, DeadLetterReplay, Replayer};

const LISTED: u32 = 100;
const BODY_SHOWN: usize = 64 * 1024;

/// What the last replay did (set by the redirect after the POST).
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: String,
}

impl Done {
    pub fn done(&self) -> &str {
        &self.done
    }
}

pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    ApiQuery(done): ApiQuery<Done>,
) -> Result<Response, AppError> {
    let letters = state.messages.dead_letters(LISTED).await?;
    let mut body = match done.done() {
        "applied" => html::notice("Replayed: the current parser read it and its events were applied.", true),
        "still_failing" => html::notice("Replayed: the current parser still refuses it.", false),
        _ => String::new(),
    };
    if letters.is_empty() {
        body.push_str("<p class=\"empty\">No dead letters.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th>Received</th><th>Parse error</th><th>Body</th><th></th></tr></thead><tbody>",
        );
    }
    for letter in &letters {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td><details><summary>{} bytes</summary><pre>{}</pre></details></td>\
             <td><form method=\"post\" action=\"/console/dead-letters/replay\">{}\
             <input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\">Replay</button></form></td></tr>",
            html::time(letter.received_at_ms),
            esc(&letter.reason),
            letter.body.len(),
            esc(&html::body_text(&letter.body, BODY_SHOWN)),
            html::csrf_field(&session),
            esc(&letter.id),
        );
    }
    if !letters.is_empty() {
        body.push_str("</tbody></table>");
    }
    Ok(html::page(Nav::DeadLetters, &session, &body))
}

pub async fn replay(
    State(state): State<ConsoleState>,
    session: Session,
    ApiForm(form): ApiForm<ActionForm>,
) -> Result<Response, AppError> {
    session.check_csrf(&form.csrf)?;
    let replayer = Replayer { provider: state.provider.clone(), messages: state.messages.clone() };
    let done = match replay_dead_letter(&replayer, &form.id).await? {
        DeadLetterReplay::Applied => "applied",
        DeadLetterReplay::StillFailing { reason } => {
            tracing::info!(id = %form.id, reason, "console: replayed dead letter still fails");
            "still_failing"
        }
    };
    tracing::info!(id = %form.id, done, "console: dead letter replayed");
    Ok(Redirect::to(&format!("/console/dead-letters?done={done}")).into_response())
}
