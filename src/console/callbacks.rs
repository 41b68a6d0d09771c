//! The Callbacks page: the latest refused callbacks (this instance's memory) and the latest stored
//! ones (the raw audit trail), filterable by event type, outcome and accid. A stored callback shows
//! its body and what the current parser makes of it; a refused one why it was refused and what the
//! operator should check — never a secret, never a signature.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Response;
use imbridge_provider::{Event, VerifyFailure};
use serde::Deserialize;

use super::html::{self, esc, Nav};
use super::{ConsoleState, Session};
use crate::callbacks::activity::Refused;
use crate::config::ProviderKind;
use crate::db::now_ms;
use crate::error::{ApiQuery, AppError};
use crate::messages::RawFilter;

/// Stored callbacks listed (newest first), from the last day.
const LISTED: u32 = 50;
const LOOK_BACK_MS: i64 = 24 * 3600 * 1000;
/// Bytes of one body shown.
const BODY_SHOWN: usize = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    event_type: String,
    /// `stored`, `refused` or empty (both).
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    accid: String,
}

pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    ApiQuery(filter): ApiQuery<Filter>,
) -> Result<Response, AppError> {
    let event_type = Some(filter.event_type.trim()).filter(|t| !t.is_empty());
    let accid = Some(filter.accid.trim()).filter(|t| !t.is_empty());
    let mut body = filter_form(&filter);

    if matches!(filter.outcome.as_str(), "" | "refused") && event_type.is_none() {
        let refusals = state.ingest.activity().refusals();
        let shown: Vec<&Refused> = refusals
            .entries
            .iter()
            .rev()
            .filter(|r| accid.is_none_or(|a| r.body.to_lowercase().contains(&a.to_lowercase())))
            .collect();
        let _ = write!(
            body,
            "<section><h2>Refused ({} kept in this instance's memory{})</h2>",
            refusals.entries.len(),
            if refusals.dropped > 0 { format!(", {} older ones dropped", refusals.dropped) } else { String::new() }
        );
        if shown.is_empty() {
            body.push_str("<p class=\"empty\">None.</p>");
        }
        for refused in shown {
            body.push_str(&refused_card(&state, refused));
        }
        body.push_str("</section>");
    }

    if matches!(filter.outcome.as_str(), "" | "stored") {
        let raw_filter = RawFilter {
            since_ms: now_ms() - LOOK_BACK_MS,
            event_type: event_type.map(str::to_owned),
            mentions: accid.map(str::to_owned),
        };
        let stored = state.messages.recent_raw(LISTED, &raw_filter).await?;
        let _ = write!(body, "<section><h2>Stored (latest {LISTED} of the last 24 h)</h2>");
        if stored.is_empty() {
            body.push_str("<p class=\"empty\">None.</p>");
        }
        for raw in stored {
            // As it arrived (Tencent's platform is in the query), as a replay would parse it.
            let path_and_query = crate::replay::path_and_query(&raw.path_and_query, &raw.event_type);
            let changed = match state.provider.parse_callback(&path_and_query, &raw.body) {
                Ok(parsed) => parsed.events.iter().map(event_summary).collect::<Vec<_>>(),
                Err(e) => vec![format!("the current parser refuses it: {}", e.0)],
            };
            let changed: String = changed.iter().map(|c| format!("<li>{}</li>", esc(c))).collect();
            let _ = write!(
                body,
                "<details class=\"card\"><summary>{} · event type <b>{}</b> · {} bytes</summary>\
                 <h3>What it changed</h3><ul>{changed}</ul><h3>Body</h3><pre>{}</pre></details>",
                html::time(raw.received_at_ms),
                esc(&raw.event_type),
                raw.body.len(),
                esc(&html::body_text(&raw.body, BODY_SHOWN)),
            );
        }
        body.push_str("</section>");
    }
    if filter.outcome == "dead_lettered" {
        body.push_str("<p>Signed callbacks the parser refused are on the <a href=\"/console/dead-letters\">Dead letters</a> page.</p>");
    }
    Ok(html::page(Nav::Callbacks, &session, &body))
}

fn filter_form(filter: &Filter) -> String {
    let option = |value: &str, text: &str| {
        let selected = if filter.outcome == value { " selected" } else { "" };
        format!("<option value=\"{value}\"{selected}>{text}</option>")
    };
    format!(
        "<form method=\"get\" class=\"filters\">\
         <label>Event type <input name=\"event_type\" value=\"{}\" placeholder=\"e.g. 1\"></label>\
         <label>Outcome <select name=\"outcome\">{}{}{}{}</select></label>\
         <label>Accid <input name=\"accid\" value=\"{}\"></label>\
         <button type=\"submit\">Filter</button></form>",
        esc(&filter.event_type),
        option("", "all"),
        option("stored", "stored"),
        option("refused", "refused"),
        option("dead_lettered", "dead-lettered"),
        esc(&filter.accid),
    )
}

fn refused_card(state: &ConsoleState, refused: &Refused) -> String {
    let (what, check) = explain(state, refused);
    let app = refused.app.as_deref().map(|a| format!(" · app <code>{}</code>", esc(a))).unwrap_or_default();
    format!(
        "<details class=\"card refused\"><summary>{} · <b>{}</b>{app}</summary>\
         <p>{}</p><p class=\"check\">Check: {}</p>\
         <h3>Body ({} bytes{})</h3><pre>{}</pre></details>",
        html::time(refused.at_ms),
        esc(refused.reason.reason()),
        esc(&what),
        esc(&check),
        refused.body_len,
        if refused.body_len > refused.body.len() { ", first 2 KiB" } else { "" },
        esc(&html::body_text(refused.body.as_bytes(), 2048)),
    )
}

/// Why it was refused, and what the operator should look at. Names configuration keys, never values
/// that are secret.
fn explain(state: &ConsoleState, refused: &Refused) -> (String, String) {
    let config = &state.config;
    let (secret_key, app_key, our_app) = match config.provider {
        ProviderKind::Netease => ("netease.app_secret", "netease.app_key", config.netease.app_key.clone()),
        ProviderKind::Tencent => ("tencent.callback_token", "tencent.sdkappid", config.tencent.sdkappid.to_string()),
    };
    let window = config.callbacks.window_secs;
    let skew = refused.skew_secs.unwrap_or(0);
    match refused.reason {
        VerifyFailure::MissingSignature => (
            "A signature field is missing.".into(),
            "is it really the provider (a health check, a scanner)? Is a proxy stripping headers or the query string?".into(),
        ),
        VerifyFailure::BodyDigestMismatch => (
            "The body does not match the digest it was signed with (bad MD5).".into(),
            "is a proxy re-encoding, decompressing or truncating the body on the way?".into(),
        ),
        VerifyFailure::BadSignature => (
            "The signature does not verify with our secret (bad CheckSum / Sign).".into(),
            format!("was the secret rotated? Compare imbridge's {secret_key} with the one in the provider's console."),
        ),
        VerifyFailure::Stale => (
            format!("Signed {skew} s ago; the window is {window} s (callbacks.window_secs)."),
            "is this host's clock right (NTP)? Otherwise a delivery delayed in the provider's queue, or a replayed capture."
                .into(),
        ),
        VerifyFailure::Future => (
            format!("Signed {} s in the future; the window is {window} s.", -skew),
            "this host's clock is probably behind: check NTP.".into(),
        ),
        VerifyFailure::BadTimestamp => {
            ("The signing time is not a number.".into(), "not a genuine provider request, or a broken proxy.".into())
        }
        VerifyFailure::WrongApp => (
            format!("Signed for another app; ours is {our_app} ({app_key})."),
            format!("does another app's callback URL point here, or is {app_key} wrong?"),
        ),
        VerifyFailure::DuplicateField => (
            "A signature field was sent twice with different values.".into(),
            "a proxy adding headers or query parameters, or a forgery.".into(),
        ),
    }
}

fn event_summary(event: &Event) -> String {
    match event {
        Event::Message(m) => format!("message {} from {} to {} ({:?})", m.key, m.from, m.to, m.conversation),
        Event::ReadReport(r) => format!("{} read {} up to {}", r.reader, r.peer, r.read_up_to_ms),
        Event::Recall(r) => format!("recall of {} ({} → {})", r.key, r.from, r.to),
        Event::Presence(p) => format!(
            "{} {} on {}{}",
            p.accid,
            if p.online { "online" } else { "offline" },
            p.client_type,
            p.device_id.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        Event::Other => "nothing: an event type stored raw only".into(),
    }
}
