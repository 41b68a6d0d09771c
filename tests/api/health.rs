//! /healthz, /readyz and /metrics: no API key needed; readiness names what is unreachable.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_need_no_key_and_readiness_names_the_provider_when_it_is_down() {
    let mut app = spawn_app().await;
    let client = reqwest::Client::new();

    let health = client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let ready = client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "{}", ready.text().await.unwrap());

    app.stop_simulator().await;
    let ready = client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["failing"], serde_json::json!(["provider"]));
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_rejected_callbacks_by_reason() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let forged = client
        .post(format!("{}/callbacks/netease", app.address))
        .header("CurTime", "1")
        .header("MD5", "00")
        .header("CheckSum", "00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let metrics = client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("imbridge_callbacks_total") && l.contains("outcome=\"rejected:")),
        "no rejected-callback counter in:\n{text}"
    );
    app.stop().await;
}

/// The value of the Prometheus series `name` whose labels include every pair of `labels` (summed
/// over the other labels), or 0 when there is none.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('{')?;
            let (set, value) = rest.rsplit_once("} ")?;
            labels.iter().all(|(k, v)| set.contains(&format!("{k}=\"{v}\""))).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

async fn scrape(app: &crate::helpers::TestApp) -> String {
    reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_http_requests_by_route_template_and_provider_calls_by_endpoint() {
    let app = spawn_app().await;
    let accid = format!("m{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let show = [("method", "GET"), ("route", "/v1/accounts/{accid}"), ("status", "404")];
    let create = [("method", "POST"), ("route", "/v1/accounts"), ("status", "200")];
    let provider_ok = [("provider", "netease"), ("endpoint", "user/create.action"), ("result", "200")];
    let before = scrape(&app).await;

    assert_eq!(app.get(&format!("/v1/accounts/{accid}")).await.status(), StatusCode::NOT_FOUND);
    let created = app.post("/v1/accounts", &serde_json::json!({"account": accid})).await;
    assert_eq!(created.status(), StatusCode::OK, "{}", created.text().await.unwrap());
    assert_eq!(app.get("/no/such/route").await.status(), StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    for (what, labels) in [("GET 404", &show[..]), ("POST 200", &create[..])] {
        let delta = series(&after, "imbridge_http_requests_total", labels)
            - series(&before, "imbridge_http_requests_total", labels);
        assert!(delta >= 1.0, "{what} not counted under its route template:\n{after}");
    }
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(series(&after, "imbridge_http_requests_total", &unmatched) >= 1.0, "404 fallback not counted");
    assert!(!after.contains(&accid), "a concrete path leaked into a label");
    let delta = series(&after, "imbridge_provider_calls_total", &provider_ok)
        - series(&before, "imbridge_provider_calls_total", &provider_ok);
    assert!(delta >= 1.0, "the NetEase create call was not counted:\n{after}");
    for name in [
        "imbridge_provider_call_duration_seconds_bucket",
        "imbridge_http_request_duration_seconds_bucket",
        "imbridge_outbox_pending",
        "imbridge_outbox_oldest_pending_age_seconds",
    ] {
        assert!(after.lines().any(|l| l.starts_with(name)), "no {name} in:\n{after}");
    }
    // The test app keeps its accounts in SQLite, so SQLite's heap is in use and at most its peak.
    let gauge = |name: &str| {
        let line = after.lines().find(|l| l.split_whitespace().next() == Some(name));
        line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok())
    };
    let (heap, peak) = (gauge("imbridge_sqlite_heap_bytes"), gauge("imbridge_sqlite_heap_peak_bytes"));
    assert!(matches!((heap, peak), (Some(h), Some(p)) if h > 0.0 && h <= p), "SQLite heap {heap:?} / peak {peak:?}");
    app.stop().await;
}
