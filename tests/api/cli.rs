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

    let exited = terminate(&mut child).await;
    assert!(up, "the simulator answered");
    assert_eq!(answer["code"], 200, "{answer}");
    assert!(exited.is_some_and(|s| s.success()), "stopped cleanly on SIGTERM: {exited:?}");
}

#[tokio::test]
async fn simulate_serves_tencent_s_rest_api_to_a_tencent_client() {
    let port = crate::helpers::closed_port().await;
    let (sdkappid, key) = ("1400000001", "cli-secret-key");
    let mut child = Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .env_clear()
        .args(["simulate", "--provider", "tencent", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--sdkappid", sdkappid, "--secret-key", key])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("http://127.0.0.1:{port}/__sim/accounts")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A Tencent REST client configured with the same SDKAppID and key (it signs its own admin
    // UserSig) imports an account; a client with another key is refused with Tencent's envelope.
    let base = format!("http://127.0.0.1:{port}");
    let tencent = |key: &str| {
        imbridge_tencent::TencentClient::new(&imbridge_tencent::TencentConfig::new(base.clone(), 1_400_000_001, key))
            .unwrap()
    };
    let imported = tencent(key).account_import("cli_user", Some("CLI"), None).await;
    let checked = tencent(key).account_check(&["cli_user", "nobody"]).await;
    let refused = tencent("another-key").account_import("cli_user", None, None).await;
    // The same UserSig the `sign-tencent` command prints works in the raw query string.
    let usersig =
        sign_tencent(&["--usersig", "--secret-key", key, "--sdkappid", sdkappid, "--identifier", "administrator"]);
    let url = format!(
        "{base}/v4/im_open_login_svc/account_check?sdkappid={sdkappid}&identifier=administrator&usersig={}&random=7&contenttype=json",
        usersig.trim()
    );
    let raw: serde_json::Value = client
        .post(url)
        .json(&serde_json::json!({"CheckItem": [{"UserID": "cli_user"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let exited = terminate(&mut child).await;
    imported.expect("account_import accepted");
    assert_eq!(checked.unwrap(), [("cli_user".to_owned(), true), ("nobody".to_owned(), false)]);
    let refused = refused.expect_err("another key's UserSig is refused");
    assert_eq!(refused.code(), Some(70009), "{refused:?}");
    assert_eq!(raw["ActionStatus"], "OK", "{raw}");
    assert_eq!(raw["ResultItem"][0]["AccountStatus"], "Imported", "{raw}");
    assert!(exited.is_some_and(|s| s.success()), "stopped cleanly on SIGTERM: {exited:?}");
}

fn sign_tencent(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_imbridge")).arg("sign-tencent").args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// SIGTERM, then up to 10 s for the process to exit (killed after that); how it exited, if it did.
async fn terminate(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    None
}
