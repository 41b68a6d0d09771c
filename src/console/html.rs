//! Building the console's HTML. Everything shown passes through [`esc`]: callback bodies and
//! refused requests are written by whoever sent them.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::session::Session;

/// Escape text for an HTML element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The pages, in the navigation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Callbacks,
    DeadLetters,
    Notifications,
    Shops,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "/console", "Overview"),
    (Nav::Callbacks, "/console/callbacks", "Callbacks"),
    (Nav::DeadLetters, "/console/dead-letters", "Dead letters"),
    (Nav::Notifications, "/console/notifications", "Notifications"),
    (Nav::Shops, "/console/shops", "Shops"),
];

fn document(title: &str, header: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · imbridge console</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body>{header}<main>{body}</main></body></html>",
        title = esc(title),
    )
}

/// A page of a logged-in operator: the navigation, a logout button, then `body` (already HTML).
pub fn page(nav: Nav, session: &Session, body: &str) -> Response {
    let title = NAV.iter().find(|(n, ..)| *n == nav).map_or("", |(_, _, t)| t);
    let links: String = NAV
        .iter()
        .map(|(n, href, text)| {
            let current = if *n == nav { " aria-current=\"page\"" } else { "" };
            format!("<a href=\"{href}\"{current}>{text}</a>")
        })
        .collect();
    let header = format!(
        "<header><span class=\"brand\">imbridge</span><nav>{links}</nav>\
         <form method=\"post\" action=\"/console/logout\" class=\"logout\">{}\
         <button type=\"submit\">Log out</button></form></header>",
        csrf_field(session)
    );
    Html(document(title, &header, &format!("<h1>{}</h1>{body}", esc(title)))).into_response()
}

/// The login form (`error`: why the last attempt failed).
pub fn login(error: Option<&str>) -> Response {
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))).unwrap_or_default();
    let body = format!(
        "<section class=\"login\"><h1>Operator console</h1>{error}\
         <form method=\"post\" action=\"/console/login\">\
         <label for=\"api_key\">API key</label>\
         <input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Log in</button></form>\
         <p class=\"hint\">One of the service's <code>api_keys</code>. It is sent in the form body, never in a URL.</p>\
         </section>"
    );
    (status, Html(document("Log in", "<header><span class=\"brand\">imbridge</span></header>", &body))).into_response()
}

/// The hidden field every state-changing form carries.
pub fn csrf_field(session: &Session) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&session.csrf))
}

/// A `<time>` in UTC; the page's script shows it in the reader's time zone.
pub fn time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(at) => {
            let iso = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            format!("<time datetime=\"{iso}\">{}</time>", at.format("%Y-%m-%d %H:%M:%S UTC"))
        }
        None => "–".to_owned(),
    }
}

/// "3 min" and the like, for ages and waits.
pub fn duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{:.1} h", secs as f64 / 3600.0),
    }
}

/// A body for people: pretty JSON when it is JSON, else the text (lossy), at most `limit` bytes.
pub fn body_text(body: &[u8], limit: usize) -> String {
    let shown = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    if shown.len() <= limit {
        return shown;
    }
    let mut cut = limit;
    while !shown.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n… ({} bytes in all)", &shown[..cut], body.len())
}

/// A small notice above a page (after a POST redirected back to it).
pub fn notice(text: &str, good: bool) -> String {
    let class = if good { "notice ok" } else { "notice bad" };
    format!("<p class=\"{class}\" role=\"status\">{}</p>", esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert('x')</script>"&"#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"
        );
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let body = "é".repeat(100);
        let shown = body_text(body.as_bytes(), 11);
        assert!(shown.starts_with("ééééé\n…"), "{shown}");
    }
}
