//! `imbridge_http_requests_total{method,route,status}` and
//! `imbridge_http_request_duration_seconds{method,route}` for every request.
//!
//! Every label takes a bounded set of values whatever clients send, so no request can grow the
//! metrics: the route label is the route *template* (`/v1/accounts/{accid}`), never the concrete
//! path, and requests that match no route count as `unmatched`; the method is one of the nine
//! standard ones or `other` (HTTP allows any token as a method); the status is one this service
//! answers with.
//! The outer [`track`] layer sees every answer (timeouts and 404s included) but runs before routing,
//! when the template is not known yet; so it leaves an empty [`RouteSlot`] in the request, and the
//! [`remember_route`] route layer, which runs after routing, fills it in.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

/// Outermost layer: counts and times the request under the route [`remember_route`] recorded.
pub async fn track(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = slot.0.get().cloned().unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::counter!("imbridge_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("imbridge_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the standard methods by name, anything else as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// Route layer (runs after routing): tells [`track`] which route template matched.
pub async fn remember_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) =
        (request.extensions().get::<RouteSlot>(), request.extensions().get::<MatchedPath>())
    {
        let _ = slot.0.set(path.as_str().to_owned());
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::TRACE), "TRACE");
        for made_up in ["FOO", "get", "PROPFIND", "X1234567"] {
            assert_eq!(method_label(&Method::from_bytes(made_up.as_bytes()).unwrap()), "other", "{made_up}");
        }
    }
}
