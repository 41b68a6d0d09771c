//! The Overview page: callbacks per minute by outcome (this instance, last hour), the ingest queue,
//! the outbox backlog, the provider's and the store's health, and any rate-limit block.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::response::Response;

use super::html::{self, esc, Nav};
use super::{ConsoleState, Session};
use crate::callbacks::activity::Outcome;
use crate::db::now_ms;

/// Each dependency gets this long to answer (as `/readyz`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn page(State(state): State<ConsoleState>, session: Session) -> Response {
    let now = now_ms();
    let (provider, store, backlog) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, state.provider.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, state.messages.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, state.outbox.store().backlog()),
    );
    let health = |ok: bool, what: &str| {
        if ok {
            "<span class=\"ok\">answering</span>".to_owned()
        } else {
            format!("<span class=\"bad\">not answering</span> ({})", esc(what))
        }
    };
    let provider = match provider {
        Ok(Ok(())) => health(true, ""),
        Ok(Err(e)) => health(false, &e.to_string()),
        Err(_) => health(false, "no answer within 2 s"),
    };
    let store = match store {
        Ok(Ok(())) => health(true, ""),
        Ok(Err(e)) => health(false, &e.to_string()),
        Err(_) => health(false, "no answer within 2 s"),
    };
    let backlog = match backlog {
        Ok(Ok(b)) => {
            let oldest = b.oldest_created_ms.map_or("–".to_owned(), |at| html::duration(now - at));
            format!("{} pending, oldest {oldest}", b.pending)
        }
        _ => "<span class=\"bad\">the SQL database did not answer</span>".to_owned(),
    };
    let block = match state.outbox.rate_limit_block().active(now) {
        Some(until) => format!(
            "<span class=\"bad\">blocked</span> until {} (in {}): sends wait it out",
            html::time(until),
            html::duration(until - now)
        ),
        None => "<span class=\"ok\">none</span>".to_owned(),
    };
    let minutes = state.ingest.activity().per_minute(SystemTime::now());
    let mut totals = [0u64; 5];
    for (_, counts) in &minutes {
        for (total, n) in totals.iter_mut().zip(counts) {
            *total += n;
        }
    }
    let legend: String = Outcome::ALL
        .iter()
        .zip(totals)
        .map(|(o, n)| format!("<li><span class=\"swatch o-{0}\"></span>{0}: {n}</li>", o.as_str()))
        .collect();
    let body = format!(
        "<section><h2>Callbacks per minute, last hour</h2>{chart}<ul class=\"legend\">{legend}</ul>\
         <p class=\"hint\">This instance only; Prometheus (<code>imbridge_callbacks_total</code>) has every instance.</p></section>\
         <section><h2>Now</h2><dl class=\"facts\">\
         <dt>Provider ({provider_name})</dt><dd>{provider}</dd>\
         <dt>Provider rate-limit block</dt><dd>{block}</dd>\
         <dt>Message store ({backend})</dt><dd>{store}</dd>\
         <dt>Callbacks waiting to be written</dt><dd>{queued}</dd>\
         <dt>Outbox</dt><dd>{backlog}</dd></dl></section>",
        chart = chart(&minutes),
        provider_name = esc(state.provider.name()),
        backend = esc(state.messages.backend()),
        queued = state.ingest.queued(),
    );
    html::page(Nav::Overview, &session, &body)
}

const WIDTH: u64 = 600;
const HEIGHT: u64 = 160;

/// A stacked bar per minute (oldest left), scaled to the busiest minute; colours come from the CSS
/// classes (the policy allows no inline style).
fn chart(minutes: &[(u64, [u64; 5])]) -> String {
    let top = minutes.iter().map(|(_, c)| c.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let bar = WIDTH / minutes.len().max(1) as u64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"callbacks per minute by outcome\">",
        HEIGHT + 16
    );
    for (i, (_, counts)) in minutes.iter().enumerate() {
        let x = i as u64 * bar;
        let mut y = HEIGHT;
        for (outcome, n) in Outcome::ALL.iter().zip(counts) {
            if *n == 0 {
                continue;
            }
            let h = (n * HEIGHT).div_ceil(top).max(1);
            y = y.saturating_sub(h);
            let _ = write!(
                svg,
                "<rect class=\"o-{}\" x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{h}\"><title>{n} {}</title></rect>",
                outcome.as_str(),
                bar.saturating_sub(1).max(1),
                outcome.as_str()
            );
        }
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\"/>\
         <text x=\"0\" y=\"{}\">60 min ago</text><text x=\"{WIDTH}\" y=\"{}\" text-anchor=\"end\">now</text>\
         <text x=\"0\" y=\"10\">{top}/min</text></svg>",
        HEIGHT + 14,
        HEIGHT + 14
    );
    svg
}
