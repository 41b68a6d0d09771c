//! The OpenAPI 3 document of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations and served at `GET /openapi.json`, with a Redoc page rendering it at `GET /docs`.
//! Neither needs an API key: they describe the API, they do not call it.
//!
//! Each feature module describes its own routes (an `ApiDoc` next to its `router()`); this module
//! merges them and adds what every `/v1` operation shares: the bearer key, the 401/408/500 answers
//! that come from the layers, and the 413/415 of the JSON body extractor.

use axum::body::Bytes;
use axum::http::header;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, PathItem, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};

use imbridge_provider::{CallbackDoc, FieldIn};

use crate::error::ErrorBody;

/// The callback path the annotation in `callbacks` names; moved to the configured `callbacks.path`.
const DOCUMENTED_CALLBACK_PATH: &str = "/callbacks";

/// The name of the bearer security scheme in the document.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "imbridge",
        description = "The server-side bridge between an e-commerce platform and IM providers (NetEase YunXin or \
Tencent Cloud IM, one per deployment). The backend creates IM accounts, opens buyer–seller chats and sends system \
notifications through `/v1`; the provider posts its callbacks to `callbacks.path` (`/callbacks/<provider>`); order \
pages ask `/v1/unread` for unread counts.\n\n\
Every `/v1` route takes and returns JSON and needs `Authorization: Bearer <key>` when `api_keys` is set. \
Errors are `{\"code\", \"message\"}` plus `field` (the offending input) and, when the provider refused, \
`provider_code`/`provider_desc`. Bad input changes nothing and calls no provider."
    ),
    tags(
        (name = "accounts", description = "IM accounts of buyers and sellers and the tokens their chat clients log in with"),
        (name = "chats", description = "Buyer–seller chats and the friendships behind them"),
        (name = "routing", description = "Shops with customer-service agents: availability, capacity, sticky routing, transfers"),
        (name = "notifications", description = "Custom system notifications with durable, at-least-once delivery"),
        (name = "unread", description = "Unread chat message counts for order pages"),
        (name = "presence", description = "Who is online, from the provider's login/logout callbacks"),
        (name = "conversations", description = "Inboxes, chat history, exports for disputes, and marking chats read"),
        (name = "backfill", description = "Importing a one-to-one session's history from the provider"),
        (name = "replay", description = "Re-deriving state from the stored raw callbacks; the dead letters, and retrying them"),
        (name = "callbacks", description = "Provider → imbridge; signed by the provider, no bearer key"),
        (name = "operations", description = "Liveness, readiness and metrics for operators; no bearer key"),
    )
)]
struct ApiDoc;

#[derive(OpenApi)]
#[openapi(paths(crate::health::healthz, crate::health::readyz, crate::health::metrics))]
struct HealthDoc;

/// The whole document, with the callback route at `callback_path` (`callbacks.path`) described as
/// the configured provider describes its callbacks.
pub fn document(callback_path: &str, callback: &CallbackDoc) -> Document {
    let mut doc = ApiDoc::openapi()
        .merge_from(crate::accounts::ApiDoc::openapi())
        .merge_from(crate::chats::ApiDoc::openapi())
        .merge_from(crate::routing::ApiDoc::openapi())
        .merge_from(crate::notifications::ApiDoc::openapi())
        .merge_from(crate::unread::ApiDoc::openapi())
        .merge_from(crate::presence::ApiDoc::openapi())
        .merge_from(crate::conversations::ApiDoc::openapi())
        .merge_from(crate::backfill::ApiDoc::openapi())
        .merge_from(crate::replay::api_doc())
        .merge_from(crate::callbacks::ApiDoc::openapi())
        .merge_from(HealthDoc::openapi());
    add_v1_conventions(&mut doc);
    if let Some(operation) = doc.paths.paths.get_mut(DOCUMENTED_CALLBACK_PATH).and_then(|item| item.post.as_mut()) {
        describe_callback(operation, callback);
    }
    if callback_path != DOCUMENTED_CALLBACK_PATH {
        let moved = |path: String| if path == DOCUMENTED_CALLBACK_PATH { callback_path.to_owned() } else { path };
        let paths = std::mem::take(&mut doc.paths.paths);
        doc.paths.paths = paths.into_iter().map(|(path, item)| (moved(path), item)).collect();
    }
    doc
}

/// The provider's summary, signature fields and example body on the callback operation.
fn describe_callback(operation: &mut utoipa::openapi::path::Operation, callback: &CallbackDoc) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{Object, Required, Type};
    operation.summary = Some(callback.summary.to_owned());
    operation.description = Some(callback.description.to_owned());
    let parameters = callback.signature.iter().map(|field| {
        ParameterBuilder::new()
            .name(field.name)
            .parameter_in(match field.location {
                FieldIn::Header => ParameterIn::Header,
                FieldIn::Query => ParameterIn::Query,
            })
            .required(if field.required { Required::True } else { Required::False })
            .description(Some(field.description))
            .schema(Some(Object::with_type(Type::String)))
            .build()
    });
    operation.parameters = Some(parameters.collect());
    if let Some(content) = operation.request_body.as_mut().and_then(|body| body.content.get_mut("application/json")) {
        content.example = Some(callback.example.clone());
    }
}

/// `GET /openapi.json` and `GET /docs`. The document is built once, here.
pub fn router<S: Clone + Send + Sync + 'static>(callback_path: &str, callback: &CallbackDoc) -> Router<S> {
    let json = Bytes::from(document(callback_path, callback).to_json().expect("the OpenAPI document serializes"));
    Router::new()
        .route("/openapi.json", get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) }))
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
        .route(
            "/docs/redoc.standalone.js",
            get(|| async {
                let headers = [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ];
                (headers, REDOC_JS)
            }),
        )
}

/// Redoc 2.5.4 (MIT), vendored from the npm registry and embedded: the page works without internet
/// access (assets/redoc/README.md says where it comes from and how to upgrade it).
const REDOC_JS: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");

/// Until Redoc replaces it, the container shows where the document is; if the script cannot run at
/// all, it says so instead of leaving a blank page.
const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>imbridge API</title>
  <style>#fallback { font: 16px/1.5 system-ui, sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em; }</style>
</head>
<body>
  <div id="redoc">
    <div id="fallback">
      <h1>imbridge API</h1>
      <p id="status">Loading the API reference&hellip;</p>
      <p>The OpenAPI 3 document is at <a href="/openapi.json">/openapi.json</a>.</p>
      <noscript><p>This page needs JavaScript to render it.</p></noscript>
    </div>
  </div>
  <script src="/docs/redoc.standalone.js"></script>
  <script>
    if (window.Redoc) {
      Redoc.init("/openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
    } else {
      document.getElementById("status").textContent =
        "The page's script (/docs/redoc.standalone.js) could not be loaded, so the reference cannot be rendered here.";
    }
  </script>
</body>
</html>
"#;

/// Every `/v1` operation sits behind the API-key middleware and the request deadline, any handler
/// can fail unexpectedly, and every JSON body is read by the same extractor: say so once here
/// instead of in each annotation.
fn add_v1_conventions(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some("`Authorization: Bearer <key>`, one of `api_keys`. Not checked when no keys are configured (loopback-only deployments)."))
        .build();
    components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));

    for (_, item) in doc.paths.paths.iter_mut().filter(|(path, _)| path.starts_with("/v1/")) {
        for operation in operations(item) {
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            let responses = &mut operation.responses.responses;
            for (status, description) in [
                ("401", "Missing or wrong API key (`unauthorized`; `WWW-Authenticate: Bearer`)"),
                ("408", "Not answered within `http.request_timeout_secs` (`timeout`)"),
                ("500", "An unexpected failure, logged with its cause; the body says only `internal`"),
            ] {
                responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
            }
            // Every JSON body goes through the `ApiJson` extractor; a route with its own limit
            // documents its own 413.
            if operation.request_body.is_some() {
                for (status, description) in [
                    ("413", "Body over `http.body_limit_bytes` (`payload_too_large`)"),
                    ("415", "Content-Type is not JSON (`unsupported_media_type`)"),
                ] {
                    responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn error_response(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build();
    ResponseBuilder::new().description(description).content("application/json", content).build().into()
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// The embedded Redoc is byte for byte the published `redoc@2.5.4` bundle (its SHA-384 is the
    /// subresource-integrity hash jsDelivr serves; both are in assets/redoc/README.md).
    #[test]
    fn the_embedded_redoc_is_the_pinned_release() {
        assert_eq!(
            hex::encode(Sha256::digest(super::REDOC_JS)),
            "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b"
        );
    }
}
