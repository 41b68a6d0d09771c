//! Starting, addressing and stopping a simulator.

use imbridge_netease::sim::SimConfig;

use crate::helpers::{config, Sim};

#[tokio::test]
async fn base_url_points_at_nimserver_on_loopback() {
    let sim = Sim::start().await;
    let port = sim.handle.addr().port();
    assert_ne!(port, 0);
    assert_eq!(sim.handle.base_url(), format!("http://127.0.0.1:{port}/nimserver"));
    assert_eq!(sim.handle.root_url(), format!("http://127.0.0.1:{port}"));
}

#[tokio::test]
async fn shutdown_and_drop_stop_serving() {
    let sim = Sim::start().await;
    let url = format!("{}/__sim/accounts", sim.handle.root_url());
    assert!(sim.http.get(&url).send().await.is_ok());
    let http = sim.http.clone();
    sim.handle.shutdown().await;
    assert!(http.get(&url).send().await.is_err(), "nothing listens after shutdown");

    let sim = Sim::start().await;
    let url = format!("{}/__sim/accounts", sim.handle.root_url());
    drop(sim);
    // The accept loop stops when it sees the cancellation; give it a moment (bounded).
    let mut stopped = false;
    for _ in 0..50 {
        if reqwest::Client::new().get(&url).send().await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(stopped, "dropping the handle stops the server");
}

#[test]
fn debug_output_hides_the_secret() {
    let cfg = SimConfig { app_secret: "very-secret-value".into(), ..config() };
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
    assert!(shown.contains("test-app-key"));
    let defaults = SimConfig::default();
    assert_eq!((defaults.app_key.as_str(), defaults.app_secret.as_str()), ("sandbox-app-key", "sandbox-app-secret"));
    assert_eq!((defaults.per_second_limit, defaults.batch_per_minute_limit), (100, 120));
}
