//! `/openapi.json` is an OpenAPI 3 document of exactly the routes the service serves, and `/docs`
//! renders it; neither needs an API key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, Spawn, TestApp};

/// Every operation the service serves. A new route must be annotated with `#[utoipa::path]`,
/// listed in its module's `ApiDoc` and added here; the tests below fail until all three agree with
/// what the running service answers.
const OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/v1/accounts"),
    ("GET", "/v1/accounts/{accid}"),
    ("PATCH", "/v1/accounts/{accid}"),
    ("POST", "/v1/accounts/{accid}/token"),
    ("POST", "/v1/accounts/{accid}/block"),
    ("DELETE", "/v1/accounts/{accid}/block"),
    ("POST", "/v1/chats"),
    ("DELETE", "/v1/friendships/{accid}/{faccid}"),
    ("PUT", "/v1/shops/{shop_id}"),
    ("GET", "/v1/shops/{shop_id}"),
    ("GET", "/v1/shops/{shop_id}/agents"),
    ("PUT", "/v1/shops/{shop_id}/agents/{accid}/availability"),
    ("POST", "/v1/shops/{shop_id}/chats"),
    ("GET", "/v1/shops/{shop_id}/assignments"),
    ("POST", "/v1/shops/{shop_id}/assignments/{id}/transfer"),
    ("POST", "/v1/shops/{shop_id}/assignments/{id}/close"),
    ("POST", "/v1/notifications"),
    ("GET", "/v1/notifications/{id}"),
    ("GET", "/v1/unread"),
    ("POST", "/v1/unread"),
    ("GET", "/v1/presence"),
    ("GET", "/v1/conversations"),
    ("POST", "/v1/conversations/{accid}/{peer}/read"),
    ("GET", "/v1/messages"),
    ("GET", "/v1/messages/export"),
    ("POST", "/v1/backfill"),
    ("GET", "/v1/backfill/{id}"),
    ("POST", "/v1/admin/replay"),
    ("GET", "/v1/admin/replay/{id}"),
    ("GET", "/v1/admin/dead-letters"),
    ("POST", "/v1/admin/dead-letters/{id}/replay"),
    ("POST", "/callbacks/netease"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// Routes that are deliberately not in the document: the document and its viewer.
const UNDOCUMENTED: &[&str] = &["/openapi.json", "/docs", "/docs/redoc.standalone.js"];

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async fn fetch_document(app: &TestApp) -> Value {
    // No API key: the document is public even when keys are configured (they are, in spawn_app).
    let response = reqwest::get(format!("{}/openapi.json", app.address)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    response.json().await.expect("/openapi.json is JSON")
}

/// `(METHOD, path)` of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for method in METHODS {
            if item.get(*method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

fn operations_of(doc: &Value) -> impl Iterator<Item = (String, &str, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| METHODS.iter().filter_map(move |m| item.get(*m).map(|op| (path.clone(), *m, op))))
}

/// Every `$ref` anywhere under `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_needs_no_key_and_is_internally_consistent() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;

    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "openapi: {}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "imbridge");
    assert!(doc["info"]["version"].as_str().is_some_and(|v| !v.is_empty()));

    // Every reference resolves.
    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    assert!(!all_refs.is_empty());
    for r in &all_refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
    }

    let error_body = &doc["components"]["schemas"]["ErrorBody"];
    let required: BTreeSet<&str> =
        error_body["required"].as_array().expect("ErrorBody.required").iter().filter_map(Value::as_str).collect();
    assert!(required.contains("code") && required.contains("message"), "ErrorBody: {error_body}");
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((&bearer["type"], &bearer["scheme"]), (&json!("http"), &json!("bearer")), "{bearer}");

    let mut operation_ids = BTreeSet::new();
    for (path, method, op) in operations_of(&doc) {
        let what = format!("{} {path}", method.to_uppercase());
        assert!(
            operation_ids.insert(op["operationId"].as_str().expect("operationId")),
            "{what}: duplicate operationId"
        );
        assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{what}: no tag");
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{what}: no summary");

        // Each `{param}` of the path is declared as a required path parameter.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == "path" && p["required"] == true))
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        let templated: BTreeSet<&str> =
            path.split('/').filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}')).collect();
        assert_eq!(declared, templated, "{what}: path parameters");

        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|s| s.starts_with('2')), "{what}: no success response");
        if path.starts_with("/v1/") {
            assert_eq!(op["security"], json!([{"bearer": []}]), "{what}: not marked as needing the bearer key");
            assert!(responses.contains_key("401"), "{what}: no 401");
            // Every error answer of the API is the JSON error body.
            for (status, response) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{what} {status}"
                );
            }
        } else {
            assert!(op.get("security").is_none(), "{what}: needs no bearer key");
        }
    }

    // The callback is documented with NetEase's signature headers.
    let callback = &doc["paths"]["/callbacks/netease"]["post"];
    let headers: BTreeSet<&str> = callback["parameters"]
        .as_array()
        .expect("callback parameters")
        .iter()
        .filter(|p| p["in"] == "header")
        .filter_map(|p| p["name"].as_str())
        .collect();
    for header in ["MD5", "CurTime", "CheckSum"] {
        assert!(headers.contains(header), "callback header {header} not documented: {headers:?}");
    }
    app.stop().await;
}

/// `/v1/accounts/{accid}` → `/v1/accounts/probe_accid`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => format!("probe_{name}"),
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What the service answers for `method path` with the API key and an empty JSON object.
async fn probe(app: &TestApp, method: &str, path: &str) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let response = app
        .client
        .request(method, format!("{}{}", app.address, concrete(path)))
        .bearer_auth(app.api_key.as_deref().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The paths of `.route("…", …)` calls in the service's source, relative to where they are mounted.
fn route_literals(dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            route_literals(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for (at, _) in source.match_indices(".route(") {
                let rest = source[at + ".route(".len()..].trim_start();
                if let Some(literal) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                    out.insert(literal.to_owned(), path.display().to_string());
                }
            }
        }
    }
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_service_serves() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;

    let documented = documented_operations(&doc);
    let expected: BTreeSet<(String, String)> = OPERATIONS.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = expected.difference(&documented).collect();
    let unexpected: Vec<_> = documented.difference(&expected).collect();
    assert!(missing.is_empty() && unexpected.is_empty(), "not documented: {missing:?}; not expected: {unexpected:?}");
    let expected_paths: BTreeSet<&str> = OPERATIONS.iter().map(|(_, p)| *p).collect();
    assert_eq!(doc["paths"].as_object().unwrap().len(), expected_paths.len());

    // Each documented operation is served: it does not fall through to the "no such route"
    // fallback, nor to "method not allowed".
    for (method, path) in &documented {
        let (status, body) = probe(&app, method, path).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is documented but not served: {body}");
        assert!(
            !(status == StatusCode::NOT_FOUND && body["message"] == "no such route"),
            "{method} {path} is documented but not served: {body}"
        );
    }

    // On a documented path, every method the document does not list is refused: a method added to
    // a route without documenting it fails here.
    for path in &expected_paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if documented.contains(&(method.to_owned(), path.to_string())) {
                continue;
            }
            let (status, body) = probe(&app, method, path).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is served but not documented: {body}");
        }
    }

    // A new path added to a router without documenting it fails here.
    let mut literals = BTreeMap::new();
    route_literals(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut literals);
    assert!(literals.contains_key("/accounts/{accid}"), "the source scan found no routes: {literals:?}");
    for (route, file) in &literals {
        let is_documented = expected_paths.contains(route.as_str())
            || expected_paths.contains(format!("/v1{route}").as_str())
            || UNDOCUMENTED.contains(&route.as_str())
            // The operator console is HTML pages for people, not API (tests/api/console.rs).
            || route == "/console"
            || route.starts_with("/console/");
        assert!(is_documented, "route {route} in {file} is not in the OpenAPI document");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_callback_route_is_documented_at_the_configured_path() {
    let app = Spawn::new(Backend::Sqlite).configure(|c| c.callbacks.path = "/hooks/nim".into()).start().await;
    let doc = fetch_document(&app).await;
    assert!(doc["paths"]["/hooks/nim"]["post"].is_object(), "paths: {:?}", doc["paths"].as_object().unwrap().keys());
    assert!(doc["paths"].get("/callbacks/netease").is_none());
    let (status, _) = probe(&app, "POST", "/hooks/nim").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an unsigned callback at the configured path");
    app.stop().await;
}

/// A Tencent deployment documents its callback route as Tencent signs it: in the query string.
#[tokio::test]
async fn the_callback_route_is_documented_as_the_configured_provider_signs() {
    let app = Spawn::new(Backend::Sqlite).provider(imbridge::config::ProviderKind::Tencent).start().await;
    let doc = fetch_document(&app).await;
    assert!(doc["paths"].get("/callbacks/netease").is_none());
    let callback = &doc["paths"]["/callbacks/tencent"]["post"];
    assert!(callback["summary"].as_str().unwrap().contains("Tencent"), "{callback}");
    let query: BTreeSet<&str> = callback["parameters"]
        .as_array()
        .expect("callback parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["SdkAppid", "Sign", "RequestTime"] {
        assert!(query.contains(name), "query parameter {name} not documented: {query:?}");
    }
    let example = &callback["requestBody"]["content"]["application/json"]["example"];
    assert_eq!(example["CallbackCommand"], "C2C.CallbackAfterSendMsg", "{callback}");
    let (status, _) = probe(&app, "POST", "/callbacks/tencent").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an unsigned callback at the documented path");
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_and_its_script_are_served_without_a_key() {
    let app = spawn_app().await;
    let response = reqwest::get(format!("{}/docs", app.address)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "content type {content_type}");
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"Redoc.init("/openapi.json""#), "the page does not load /openapi.json:\n{page}");
    assert!(!page.contains("https://"), "the page loads nothing from elsewhere:\n{page}");
    // Readable before (or without) the script: a title and the document's address.
    assert!(page.contains(r#"<a href="/openapi.json">/openapi.json</a>"#), "{page}");

    let script = reqwest::get(format!("{}/docs/redoc.standalone.js", app.address)).await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.bytes().await.unwrap().len() > 1_000_000, "the whole Redoc bundle");
    app.stop().await;
}

/// Headless Chromium (Debian's `chromium`) on a machine without internet access renders `/docs`:
/// the DOM it dumps lists the API's operations. A screenshot goes to `target/screenshots/docs.png`.
#[tokio::test]
#[ignore = "needs chromium (./scripts/test installs it)"]
async fn the_docs_page_renders_the_operations_in_headless_chromium() {
    let app = spawn_app().await;
    let url = format!("{}/docs", app.address);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = format!("--screenshot={}", shots.join("docs.png").display());
    chromium(&[&screenshot, "--window-size=1280,2000", &url]).await;
    let dom = chromium(&["--dump-dom", &url]).await;
    // Redoc renders each operation's summary and its method/path.
    for summary in
        ["Create-or-get an account.", "Unread counts of `accid` from each of `peers`.", "Receive a NetEase callback"]
    {
        assert!(dom.contains(summary), "the rendered page does not show {summary:?}:\n{}", &dom[..dom.len().min(3000)]);
    }
    assert!(dom.contains("/v1/notifications/{id}"), "paths are listed");
    assert!(!dom.contains("Loading the API reference"), "Redoc replaced the fallback text");
    app.stop().await;
}

/// Run Debian's chromium headless with the flags that keep it off the (closed) network; its stdout.
/// Async, so the app under test keeps serving on this test's runtime meanwhile.
async fn chromium(args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("chromium finished within 120 s")
        .unwrap_or_else(|e| {
            panic!("cannot run chromium ({e}); install Debian's chromium package, or run ./scripts/test")
        });
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
