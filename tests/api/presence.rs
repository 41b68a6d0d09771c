//! `GET /v1/presence` over HTTP, fed by signed login/logout callbacks, on the embedded store and on
//! MongoDB: NetEase's documented samples, failed logins, out-of-order and duplicate events.

use std::time::{Duration, Instant};

use imbridge_netease::sign::now_millis;
use imbridge_netease::sim::{CallbackMode, ClientPresence};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::callbacks::{deliver, spawn};
use crate::helpers::{expect_error, expect_json, spawn_app, Store, TestApp};

on_both_stores!(
    the_documented_logout_ends_a_login_that_named_its_device,
    presence_is_per_client_type_and_newest_wins,
    simulated_clients_duplicated_and_shuffled_end_where_their_timestamps_say,
);

async fn presence(app: &TestApp, accids: &str) -> Value {
    expect_json(app.get(&format!("/v1/presence?accids={accids}")).await, StatusCode::OK).await
}

/// The scenario that left users online forever: a login with a deviceId, then NetEase's own logout
/// sample (no deviceId, `"clientType":"iOS"`, `"code":200` as a number).
async fn the_documented_logout_ends_a_login_that_named_its_device(store: Store) {
    let app = spawn(store).await;
    let t = now_millis();
    deliver(
        &app,
        &json!({"clientType": "IOS", "code": "200", "accid": "tes", "sdkVersion": "155", "eventType": "2",
        "deviceId": "c25f82d0-5f2e-492f-b5cc-3f4a585c25a2", "timestamp": (t - 1000).to_string()}),
    )
    .await;
    let online = presence(&app, "tes").await;
    assert_eq!(online["presence"]["tes"]["online"], true, "{online}");

    deliver(
        &app,
        &json!({"clientType": "iOS", "code": 200, "accid": "tes", "sdkVersion": "155", "eventType": "3",
        "timestamp": t}),
    )
    .await;
    let answer = presence(&app, "tes,Nobody_Here").await;
    assert_eq!(
        answer,
        json!({"presence": {
            "tes": {"online": false, "updated_at": t, "clients": [
                {"client_type": "ios", "online": false, "at": t, "device_id": null, "logout_reason": null}
            ]},
            "Nobody_Here": {"online": false, "updated_at": null, "clients": []}
        }})
    );
}

async fn presence_is_per_client_type_and_newest_wins(store: Store) {
    let app = spawn(store).await;
    let t = now_millis();
    let event = |event_type: &str, client: &str, code: Value, at: u64| json!({"eventType": event_type, "accid": "Seller_9", "clientType": client, "code": code, "timestamp": at});
    // Phone logs in, the web client logs in and out; delivered out of order and twice.
    let phone_in = event("2", "AOS", json!("200"), t - 3000);
    let web_in = event("2", "WEB", json!("200"), t - 2000);
    let mut web_out = event("3", "web", json!(200), t - 1000);
    web_out["logOutReason"] = json!(3);
    let failed = event("2", "PC", json!("302"), t); // a failed login changes nothing
    for e in [&web_out, &phone_in, &web_in, &failed, &web_out, &phone_in] {
        deliver(&app, e).await;
    }
    let answer = presence(&app, "seller_9").await;
    let seller = &answer["presence"]["seller_9"];
    assert_eq!(seller["online"], true, "the phone is online: {answer}");
    assert_eq!(seller["updated_at"], t - 1000);
    let clients: Vec<(String, bool, Value)> = seller["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["client_type"].as_str().unwrap().to_owned(), c["online"].as_bool().unwrap(), c["logout_reason"].clone())
        })
        .collect();
    assert_eq!(clients, vec![("aos".into(), true, json!(null)), ("web".into(), false, json!(3))]);

    // The phone's logout: offline everywhere.
    deliver(&app, &event("3", "Aos", json!(200), t - 500)).await;
    assert_eq!(presence(&app, "seller_9").await["presence"]["seller_9"]["online"], false);
}

#[tokio::test]
async fn bad_presence_queries_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let invalid = |field: &'static str| {
        move |response| async move {
            expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field)).await
        }
    };
    invalid("accids")(app.get("/v1/presence").await).await;
    invalid("accids")(app.get("/v1/presence?accids=").await).await;
    invalid("accids[1]")(app.get("/v1/presence?accids=a,not%20valid").await).await;
    let many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    invalid("accids")(app.get(&format!("/v1/presence?accids={}", many.join(","))).await).await;
    let at_limit = presence(&app, &many[..500].join(",")).await;
    assert_eq!(at_limit["presence"].as_object().unwrap().len(), 500);
    let response = app.get("/v1/presence?accids=a&colour=red").await;
    expect_error(response, StatusCode::BAD_REQUEST, "unknown_field", Some("colour")).await;
    let anonymous = app.client.get(format!("{}/v1/presence?accids=a", app.address)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Through the simulator (what NetEase posts, signed, to the real callback route), every callback
/// delivered twice and in shuffled order: a phone logs in naming its device, a web client logs in,
/// the phone logs out without a device id (as NetEase's sample does).
async fn simulated_clients_duplicated_and_shuffled_end_where_their_timestamps_say(store: Store) {
    let app = spawn(store).await;
    let sim = app.sim.as_ref().expect("an external simulator").state();
    sim.set_callback_mode(CallbackMode { duplicate: true, shuffle: true, shuffle_window: 0 });
    let t = now_millis() - 10_000;
    let client = |client_type: &str, device: Option<&str>, at: u64| ClientPresence {
        accid: "buyer_sim".into(),
        device_id: device.map(str::to_owned),
        client_type: Some(client_type.into()),
        timestamp: Some(at),
        ..ClientPresence::default()
    };
    sim.client_login(client("AOS", Some("phone-1"), t)).await.unwrap();
    sim.client_login(client("WEB", None, t + 1)).await.unwrap();
    sim.client_logout(client("aos", None, t + 2)).await.unwrap();

    let want = |answer: &Value| {
        let account = &answer["presence"]["buyer_sim"];
        let clients: Vec<(&str, bool)> = account["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["client_type"].as_str().unwrap_or(""), c["online"].as_bool().unwrap_or(true)))
            .collect();
        account["online"] == true && clients == [("aos", false), ("web", true)]
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = presence(&app, "buyer_sim").await;
        if want(&answer) {
            break;
        }
        assert!(Instant::now() < deadline, "presence did not converge: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
