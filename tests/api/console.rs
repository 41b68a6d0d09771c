//! The operator console (`/console`): its login, CSRF and headers over plain HTTP, and an operator's
//! round in a real browser (headless Chromium driven through chromedriver's W3C WebDriver API):
//! log in, see a refused callback and why, replay a dead letter, retry a failed notification, look
//! at the overview and the shops. Screenshots go to `target/screenshots/console-<page>.png`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use base64::Engine;
use imbridge_netease::sign::{now_millis, CallbackHeaders};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::{json, Value};

use crate::callbacks::{deliver, message, post_raw};
use crate::helpers::{expect_json, Backend, Spawn, TestApp, API_KEY, APP_KEY};

async fn spawn_console() -> TestApp {
    Spawn::new(Backend::Sqlite)
        .configure(|c| {
            c.console.enabled = true;
            c.outbox.poll_interval_ms = 100;
        })
        .start()
        .await
}

/// A client that shows redirects instead of following them.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(redirect::Policy::none()).build().unwrap()
}

/// Log in over HTTP; the session cookie (`name=value`).
async fn login(app: &TestApp, client: &reqwest::Client) -> String {
    let response =
        client.post(format!("{}/console/login", app.address)).form(&[("api_key", API_KEY)]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// A NetEase callback signed with a secret that is not the app's: refused as `bad_checksum`.
async fn forge(app: &TestApp, body: &Value) {
    let body = serde_json::to_vec(body).unwrap();
    let signed = CallbackHeaders::sign("an-old-rotated-secret", &body, now_millis());
    let headers =
        [("MD5", signed.md5), ("CurTime", signed.cur_time), ("CheckSum", signed.checksum), ("AppKey", APP_KEY.into())];
    assert_eq!(post_raw(app, body, &headers).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_console_is_not_there_unless_enabled() {
    let app = crate::helpers::spawn_app().await;
    for path in ["/console", "/console/login", "/console/assets/console.css"] {
        let response = plain_client().get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn logins_sessions_and_forms_are_locked_down() {
    let app = spawn_console().await;
    let client = plain_client();
    let url = |path: &str| format!("{}{path}", app.address);

    // No session: every page sends the operator to the login form.
    let response = client.get(url("/console/callbacks")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/login");

    // A key in the URL is not a login; a wrong key in the form is refused without a cookie.
    let response = client.get(url(&format!("/console/login?api_key={API_KEY}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let response =
        client.post(url("/console/login")).form(&[("api_key", "not-the-key-0123456789")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(SET_COOKIE).is_none());

    // A form without the key gets the API's JSON error, naming the field.
    let response = client.post(url("/console/login")).form(&[("key", API_KEY)]).send().await.unwrap();
    assert_eq!(expect_json(response, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "api_key");

    // The right key: a strict, HTTP-only, path-scoped, time-limited cookie that is not the key.
    let response = client.post(url("/console/login")).form(&[("api_key", API_KEY)]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(location, "/console");
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains(API_KEY), "the cookie is not the key");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    // Every page: no caching, no framing, no inline script; the key never in a link or form action.
    for path in ["/console", "/console/callbacks", "/console/dead-letters", "/console/notifications", "/console/shops"]
    {
        let response = client.get(url(path)).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        check_security_headers(response.headers(), path);
        let page = response.text().await.unwrap();
        assert!(!page.contains(API_KEY), "{path} shows the API key");
        assert!(!page.contains("<script>"), "{path} has inline script");
    }

    // A state-changing POST without the session's CSRF token, or with a wrong one: 403.
    for form in [vec![("id", "1")], vec![("id", "1"), ("csrf", "0000")]] {
        let response =
            client.post(url("/console/notifications/retry")).header(COOKIE, &cookie).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{form:?}");
        assert_eq!(expect_json(response, StatusCode::FORBIDDEN).await["code"], "forbidden");
    }
    let response =
        client.post(url("/console/logout")).header(COOKIE, &cookie).form(&[("csrf", "")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "logging out needs the token too");
    // From another site, even the login form is refused.
    let response = client
        .post(url("/console/login"))
        .header("Origin", "https://evil.example")
        .form(&[("api_key", API_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let response = client
        .post(url("/console/login"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("api_key", API_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "a browser saying the post is cross-site");

    // With the token (read from the page's hidden field) logging out clears the cookie.
    let page = client.get(url("/console")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_csrf(&page);
    let response = client
        .post(url("/console/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    app.stop().await;
}

#[tokio::test]
async fn what_a_sender_wrote_is_shown_escaped() {
    let app = spawn_console().await;
    let client = plain_client();
    let cookie = login(&app, &client).await;
    let mut hostile = message("shop_x", "buyer_x", 42_001, now_millis());
    hostile["body"] = json!("<script>alert('stored')</script><img src=x onerror=alert(1)>");
    deliver(&app, &hostile).await;
    let mut forged = message("shop_x", "buyer_x", 42_002, now_millis());
    forged["body"] = json!("<script>alert('refused')</script>");
    forge(&app, &forged).await;

    let page = client
        .get(format!("{}/console/callbacks", app.address))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("&lt;script&gt;alert(&#39;stored&#39;)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;refused&#39;)"), "{page}");
    assert!(!page.contains("<script>alert") && !page.contains("<img src=x"), "{page}");
    assert!(page.contains("bad_checksum"), "{page}");
    app.stop().await;
}

fn check_security_headers(headers: &HeaderMap, what: &str) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["cache-control"], "no-store", "{what}");
}

fn hidden_csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The operator's round in a real browser. Fails (does not skip) without chromedriver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver (./scripts/test installs them)"]
async fn an_operator_works_through_the_console_in_headless_chromium() {
    let app = spawn_console().await;
    app.create_account("con_shop", None).await;
    app.create_account("con_buyer", None).await;
    for agent in ["con_amy", "con_bob"] {
        app.create_account(agent, None).await;
    }
    let agents = json!([{"account": "con_amy", "name": "Amy", "capacity": 3}, {"account": "con_bob", "name": "Bob", "capacity": 2}]);
    let shop = json!({"name": "Console Shop", "owner": "con_shop", "agents": agents});
    expect_json(app.put("/v1/shops/con_shop", &shop).await, StatusCode::OK).await;
    deliver(
        &app,
        &json!({"eventType": "2", "accid": "con_amy", "clientType": "WEB", "code": "200",
        "timestamp": now_millis().to_string(), "deviceId": "desk"}),
    )
    .await;

    // What the operator will look at: a stored callback, a refused one, a dead letter, a failure.
    deliver(&app, &message("con_shop", "con_buyer", 55_001, now_millis())).await;
    forge(&app, &message("con_shop", "con_buyer", 55_002, now_millis())).await;
    let parseable_now = message("con_shop", "con_buyer", 55_003, now_millis());
    let raw = imbridge::messages::RawCallback {
        provider: "netease".into(),
        event_type: String::new(),
        body: serde_json::to_vec(&parseable_now).unwrap().into(),
        path_and_query: "/callbacks/netease".into(),
        received_at: SystemTime::now(),
    };
    // As an older parser would have left it.
    app.message_store().await.dead_letter(&raw, "unparseable callback: missing field `msgType`").await.unwrap();
    app.sim_faults(json!({"fail_next": 1, "fail_code": 403, "actions": ["msg/sendAttachMsg"]})).await;
    let request = json!({"from": "con_shop", "to": ["con_buyer"], "attach": {"order": "o-1"}});
    let accepted = expect_json(app.post("/v1/notifications", &request).await, StatusCode::ACCEPTED).await;
    let notification = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(app.settled_notification(&notification).await["status"], "failed");

    let browser = Browser::start().await;
    let url = |path: &str| format!("{}{path}", app.address);

    browser.goto(&url("/console")).await;
    assert!(browser.url().await.ends_with("/console/login"), "sent to the login form");
    browser.screenshot("login").await;
    browser.type_into("#api_key", API_KEY).await;
    browser.click("form[action='/console/login'] button").await;
    browser.wait_for_text("Callbacks per minute").await;
    assert!(browser.url().await.ends_with("/console"));
    let overview = browser.source().await;
    for shown in ["answering", "Outbox", "Provider rate-limit block", "<svg"] {
        assert!(overview.contains(shown), "the overview shows {shown:?}");
    }
    browser.screenshot("overview").await;

    browser.goto(&url("/console/callbacks?outcome=refused")).await;
    let refused = browser.source().await;
    assert!(refused.contains("bad_checksum"), "the refusal's reason");
    assert!(refused.contains("netease.app_secret"), "what to check");
    browser.click("details.refused summary").await;
    browser.screenshot("callbacks").await;

    browser.goto(&url("/console/dead-letters")).await;
    assert!(browser.source().await.contains("missing field `msgType`"));
    browser.screenshot("dead-letters").await;
    browser.click("form[action='/console/dead-letters/replay'] button").await;
    browser.wait_for_text("the current parser read it").await;
    assert!(!browser.source().await.contains("missing field `msgType`"), "the dead letter left the list");
    let unread = crate::callbacks::unread(&app, "con_buyer", &["con_shop"]).await;
    assert_eq!(unread["unread"]["con_shop"], 2, "the replayed message is stored: {unread}");

    browser.goto(&url("/console/notifications")).await;
    let failed = browser.source().await;
    assert!(failed.contains(&notification) && failed.contains("403"), "the failure and NetEase's code");
    browser.screenshot("notifications").await;
    browser.click("form[action='/console/notifications/retry'] button").await;
    browser.wait_for_text("Put back in the queue").await;
    let delivered = app.settled_notification(&notification).await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");

    browser.goto(&url("/console/shops")).await;
    let shops = browser.source().await;
    assert!(shops.contains("Console Shop") && shops.contains("con_amy") && shops.contains("online"));
    browser.screenshot("shops").await;

    // On a phone-sized window the pages still read (tables become one cell per line).
    browser.command(reqwest::Method::POST, "/window/rect", Some(json!({"width": 390, "height": 844}))).await;
    browser.goto(&url("/console/notifications")).await;
    browser.screenshot("phone-notifications").await;
    browser.goto(&url("/console")).await;
    browser.screenshot("phone-overview").await;

    // The key was never in a URL the browser visited.
    for visited in browser.history() {
        assert!(!visited.contains(API_KEY), "{visited}");
    }
    browser.click("form.logout button").await;
    browser.wait_for_text("API key").await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.quit().await;
    app.stop().await;
}

/// A chromedriver child process and one headless Chromium session, over W3C WebDriver.
struct Browser {
    http: reqwest::Client,
    base: String,
    visited: std::sync::Mutex<Vec<String>>,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run chromedriver ({e}): install Debian's chromium-driver, or run ./scripts/test")
            });
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let root = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = http.get(format!("{root}/status")).send().await {
                if status.json::<Value>().await.is_ok_and(|s| s["value"]["ready"] == true) {
                    break;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "chromedriver did not get ready on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--window-size=1280,900".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let created = http.post(format!("{root}/session")).json(&capabilities).send().await.unwrap();
        let created: Value = created.json().await.unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver could not start chromium: {created}"))
            .to_owned();
        Self {
            http,
            base: format!("{root}/session/{session}"),
            visited: Default::default(),
            _driver: driver,
            _profile: profile,
        }
    }

    /// One WebDriver command; its `value`. Panics with the driver's error.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let reply: Value = response.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path}: {status} {reply}");
        reply["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
        // Where it ended up (after redirects) goes into the history.
        self.url().await;
    }

    async fn url(&self) -> String {
        let url = self.command(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned();
        self.visited.lock().unwrap().push(url.clone());
        url
    }

    fn history(&self) -> Vec<String> {
        self.visited.lock().unwrap().clone()
    }

    async fn source(&self) -> String {
        self.command(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found =
            self.command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({"text": text}))).await;
    }

    /// Wait (up to 10 s) until the page shows `text`, e.g. after a form was submitted.
    async fn wait_for_text(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.source().await;
            if page.contains(text) {
                self.url().await;
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the page never showed {text:?}:\n{page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `target/screenshots/console-<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("console-{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    async fn quit(&self) {
        self.command(reqwest::Method::DELETE, "", None).await;
    }
}
