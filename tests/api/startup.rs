//! Start-up: configuration errors name the key, an open API is never exposed beyond loopback, and
//! the real binary serves and shuts down gracefully.

use std::process::{Command, Stdio};
use std::time::Duration;

use imbridge::app::{Application, StartupError};
use imbridge::config::Config;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{closed_port, expect_json};

fn imbridge(dir: &std::path::Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imbridge"));
    // Only the variables given: tests must not depend on (or leak into) the process environment.
    command.env_clear().current_dir(dir).envs(vars.iter().copied());
    command
}

#[test]
fn the_binary_refuses_bad_values_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("IMBRIDGE_LISTEN", "not-an-address")], "IMBRIDGE_LISTEN"),
        (&[("IMBRIDGE_HTTP_REQUEST_TIMEOUT_SECS", "soon")], "IMBRIDGE_HTTP_REQUEST_TIMEOUT_SECS"),
        (&[("IMBRIDGE_DATABASE_URL", "postgres://db/x")], "IMBRIDGE_DATABASE_URL"),
        (&[("IMBRIDGE_NETEASE_BASE_URL", "https://api.netease.im/nimserver")], "IMBRIDGE_NETEASE_APP_KEY"),
        (&[("IMBRIDGE_NETEASE_APPKEY", "typo")], "IMBRIDGE_NETEASE_APPKEY"),
        (&[("IMBRIDGE_LOG_FORMAT", "xml")], "IMBRIDGE_LOG_FORMAT"),
        (&[("IMBRIDGE_OUTBOX_CONCURRENCY", "0")], "IMBRIDGE_OUTBOX_CONCURRENCY"),
        (&[("IMBRIDGE_API_KEYS", "short")], "IMBRIDGE_API_KEYS"),
    ];
    for (vars, named) in cases {
        let output = imbridge(dir.path(), vars).arg("serve").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} started");
        assert!(stderr.contains(named), "{vars:?}: stderr does not name {named}: {stderr}");
    }
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn the_binary_will_not_listen_beyond_loopback_without_api_keys() {
    let dir = tempfile::tempdir().unwrap();
    let output = imbridge(dir.path(), &[("IMBRIDGE_LISTEN", "0.0.0.0:0")]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("IMBRIDGE_API_KEYS"), "{stderr}");
}

#[tokio::test]
async fn build_refuses_a_non_loopback_address_without_keys_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.data_dir = dir.path().join("data");
    config.listen = "0.0.0.0:0".parse().unwrap();

    let Err(err) = Application::build(config, None).await else { panic!("built an open API on 0.0.0.0") };

    match err {
        StartupError::Config(err) => assert_eq!(err.var, "IMBRIDGE_API_KEYS"),
        other => panic!("unexpected error: {other}"),
    }
    assert!(!dir.path().join("data").exists(), "refused before touching anything");
}

#[tokio::test]
async fn an_unreachable_database_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.data_dir = dir.path().join("data");
    config.database_url = SecretString::from(format!("mysql://u:db-secret@127.0.0.1:{}/x", closed_port().await));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();

    let Err(err) = Application::build(config, Some(listener)).await else { panic!("started without a database") };

    assert!(matches!(err, StartupError::Database(_)), "{err}");
    assert!(err.to_string().contains("database_url"), "{err}");
    assert!(!err.to_string().contains("db-secret"), "{err}");
}

/// What `cargo run` does: sandbox mode, zero services; SIGTERM stops it cleanly.
#[tokio::test]
async fn the_binary_serves_in_sandbox_mode_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port().await;
    let listen = format!("127.0.0.1:{port}");
    let vars = [
        ("IMBRIDGE_LISTEN", listen.as_str()),
        ("IMBRIDGE_LOG_FORMAT", "json"),
        ("IMBRIDGE_LOG_FILTER", "info,imbridge_netease=debug"),
    ];
    let mut child = imbridge(dir.path(), &vars).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{listen}/v1/accounts");

    let mut response = None;
    for _ in 0..100 {
        let request =
            client.post(&url).header("x-request-id", "trace-me-4711").json(&json!({"account": "first_buyer"}));
        if let Ok(r) = request.send().await {
            response = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = expect_json(response.expect("the server came up"), StatusCode::OK).await;
    assert_eq!(body["accid"], "first_buyer");
    assert!(dir.path().join("data/imbridge.db").exists(), "default database in ./data");
    assert!(dir.path().join("data/sandbox-netease.json").exists(), "sandbox state in ./data");

    let term = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(term.success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("imbridge did not stop on SIGTERM");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(stderr.contains("SANDBOX MODE"), "sandbox mode is announced: {stderr}");
    assert!(!stderr.contains("imbridge-sandbox-secret"), "no secret in the logs");

    // JSON lines, and the NetEase call made for the request is logged under the caller's request
    // id next to the RequestId sent to NetEase.
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let traced =
        lines.iter().find(|l| l["span"]["request_id"] == "trace-me-4711" && l["action"] == "user/create.action");
    let traced = traced.unwrap_or_else(|| panic!("no provider call logged under the request id:\n{stderr}"));
    assert!(traced["provider_request_id"].as_str().is_some_and(|id| !id.is_empty()), "{traced}");
}
