//! `imbridge sign`: the worked examples of shared/providers/netease.md §3, with expected values
//! computed independently (`printf %s ... | sha1sum` / `md5sum`).

use std::process::{Command, Stdio};
use std::time::Duration;

fn sign(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_imbridge")).env_clear().arg("sign").args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn sign_prints_the_api_headers() {
    let out = sign(&["--secret", "secret", "--app-key", "key", "--nonce", "nonce123", "--curtime", "1443592222"]);
    assert!(out.contains("AppKey: key\n"), "{out}");
    assert!(out.contains("Nonce: nonce123\n"), "{out}");
    assert!(out.contains("CurTime: 1443592222\n"), "{out}");
    // printf %s 'secretnonce1231443592222' | sha1sum
    assert!(out.contains("CheckSum: 1856a26bd54343e76572114845379d2dbdee15e1\n"), "{out}");
}

#[test]
fn sign_prints_the_callback_headers() {
    let out =
        sign(&["--secret", "secret", "--callback", "--curtime", "1440570500855", "--body", r#"{"eventType":"1"}"#]);
    // printf %s '{"eventType":"1"}' | md5sum
    assert!(out.contains("MD5: efdcc402fa9336b84ee459911fcffcfa\n"), "{out}");
    assert!(out.contains("CurTime: 1440570500855\n"), "{out}");
    // printf %s "secret${MD5}1440570500855" | sha1sum
    assert!(out.contains("CheckSum: d3412715932593b8f7c45428a5438a9e34296f59\n"), "{out}");
}

#[test]
fn sign_reads_the_body_from_a_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, br#"{"eventType":"1"}"#).unwrap();
    let out = sign(&[
        "--secret",
        "secret",
        "--callback",
        "--curtime",
        "1440570500855",
        "--body-file",
        file.to_str().unwrap(),
    ]);
    assert!(out.contains("CheckSum: d3412715932593b8f7c45428a5438a9e34296f59\n"), "{out}");
}

#[test]
fn sign_without_a_nonce_makes_a_fresh_one() {
    let a = sign(&["--secret", "s"]);
    let b = sign(&["--secret", "s"]);
    let nonce = |out: &str| out.lines().find(|l| l.starts_with("Nonce: ")).map(str::to_owned);
    assert!(nonce(&a).is_some());
    assert_ne!(nonce(&a), nonce(&b));
}

#[tokio::test]
async fn simulate_serves_the_simulator_until_sigterm() {
    let port = crate::helpers::closed_port().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .env_clear()
        .args(["simulate", "--listen", &format!("127.0.0.1:{port}"), "--app-key", "k", "--app-secret", "s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("http://127.0.0.1:{port}/__sim/accounts")).send().await {
            up = response.status().is_success();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A signed NetEase call with the app secret given on the command line is accepted.
    let headers = sign(&["--secret", "s", "--app-key", "k"]);
    let mut request =
        client.post(format!("http://127.0.0.1:{port}/nimserver/user/create.action")).body("accid=cli_user");
    for line in headers.lines() {
        let (name, value) = line.split_once(": ").unwrap();
        request = request.header(name, value);
    }
    let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();

    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if exited.is_none() {
        let _ = child.kill();
    }
    assert!(up, "the simulator answered");
    assert_eq!(answer["code"], 200, "{answer}");
    assert!(exited.is_some_and(|s| s.success()), "stopped cleanly on SIGTERM: {exited:?}");
}
