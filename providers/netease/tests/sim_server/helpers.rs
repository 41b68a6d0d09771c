//! Starting a simulator on port 0 and calling it the way NetEase's clients do: form bodies signed
//! with `imbridge_netease::sign`, no dependency on the crate's client.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use imbridge_netease::sign;
use imbridge_netease::sim::{SimConfig, SimHandle, SimState, Simulator};
use serde_json::Value;

pub const KEY: &str = "test-app-key";
pub const SECRET: &str = "test-app-secret";

pub fn config() -> SimConfig {
    SimConfig { app_key: KEY.to_owned(), app_secret: SECRET.to_owned(), ..SimConfig::default() }
}

pub struct Sim {
    pub handle: SimHandle,
    pub http: reqwest::Client,
}

impl Sim {
    pub async fn start() -> Self {
        Self::start_with(config()).await
    }

    pub async fn start_with(cfg: SimConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let handle = Simulator::start(cfg, listener).await.expect("simulator starts");
        Self { handle, http: reqwest::Client::new() }
    }

    pub fn state(&self) -> SimState {
        self.handle.state()
    }

    /// A signed call; the parsed JSON reply (the HTTP status must be 200).
    pub async fn call(&self, api: &str, form: &[(&str, &str)]) -> Value {
        self.call_with_id(api, form, None).await
    }

    pub async fn call_with_id(&self, api: &str, form: &[(&str, &str)], request_id: Option<&str>) -> Value {
        let response = self.send(api, form, request_id).await.expect("simulator answers");
        assert_eq!(response.status(), StatusCode::OK, "NetEase answers HTTP 200");
        response.json().await.expect("JSON reply")
    }

    /// A signed call, returning the raw response (or the transport error).
    pub async fn send(
        &self,
        api: &str,
        form: &[(&str, &str)],
        request_id: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        self.send_via(&self.http, api, form, request_id).await
    }

    /// Like [`Sim::send`], through another HTTP client (e.g. one with a short timeout).
    pub async fn send_via(
        &self,
        http: &reqwest::Client,
        api: &str,
        form: &[(&str, &str)],
        request_id: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        let headers = sign::ApiHeaders::new(KEY, SECRET, sign::now_secs());
        let mut request = self.unsigned_via(http, api, form);
        request = request
            .header("AppKey", headers.app_key)
            .header("Nonce", headers.nonce)
            .header("CurTime", headers.cur_time)
            .header("CheckSum", headers.checksum);
        if let Some(id) = request_id {
            request = request.header("RequestId", id);
        }
        request.send().await
    }

    /// A form POST without any auth header, for tests that set their own.
    pub fn unsigned(&self, api: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.unsigned_via(&self.http, api, form)
    }

    fn unsigned_via(&self, http: &reqwest::Client, api: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let body = serde_urlencoded::to_string(form).expect("form encodes");
        http.post(format!("{}/{api}.action", self.handle.base_url()))
            .header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
            .body(body)
    }

    /// Creates an account; returns its token.
    pub async fn create(&self, accid: &str) -> String {
        let reply = self.call("user/create", &[("accid", accid)]).await;
        assert_eq!(reply["code"], 200, "create {accid}: {reply}");
        reply["info"]["token"].as_str().expect("token").to_owned()
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}{path}", self.handle.root_url())).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON")
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response =
            self.http.post(format!("{}{path}", self.handle.root_url())).json(&body).send().await.expect("POST");
        let status = response.status();
        (status, response.json().await.expect("JSON"))
    }

    pub async fn delete(&self, path: &str) -> StatusCode {
        self.http.delete(format!("{}{path}", self.handle.root_url())).send().await.expect("DELETE").status()
    }
}

/// One callback as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("callback body is JSON")
    }
}

/// A tiny HTTP server that records callbacks, answering the queued statuses first, then 200.
#[derive(Clone, Default)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
    pub answers: Arc<Mutex<Vec<StatusCode>>>,
}

impl Receiver {
    /// Starts it; returns the URL to configure.
    pub async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/callbacks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move {
                    me.received.lock().unwrap().push(Received { headers, body });
                    let mut answers = me.answers.lock().unwrap();
                    let status = if answers.is_empty() { StatusCode::OK } else { answers.remove(0) };
                    (status, r#"{"code":200}"#)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/callbacks")
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.all().iter().map(Received::json).collect()
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
