//! friend/*: add types 1-4, update, delete, get.

use serde_json::json;

use crate::helpers::{unique, Sim};

async fn two_accounts(sim: &Sim) -> (String, String) {
    let (a, b) = (unique("fa"), unique("fb"));
    sim.create(&a).await;
    sim.create(&b).await;
    (a, b)
}

fn friend_ids(sim: &Sim, accid: &str) -> Vec<String> {
    sim.state().friendships(accid).friends.into_iter().map(|f| f.faccid).collect()
}

#[tokio::test]
async fn type_1_makes_both_sides_friends_and_is_idempotent() {
    let sim = Sim::start().await;
    let (a, b) = two_accounts(&sim).await;
    for _ in 0..2 {
        let reply = sim.call("friend/add", &[("accid", &a), ("faccid", &b.to_uppercase()), ("type", "1")]).await;
        assert_eq!(reply, json!({"code": 200}));
    }
    assert_eq!(friend_ids(&sim, &a), [b.as_str()]);
    assert_eq!(friend_ids(&sim, &b), [a.as_str()]);
    let view = sim.get(&format!("/__sim/friendships/{a}")).await;
    assert_eq!(view["friends"][0]["faccid"], b);
}

#[tokio::test]
async fn type_2_is_a_request_that_type_3_accepts() {
    let sim = Sim::start().await;
    let (a, b) = two_accounts(&sim).await;
    let reply = sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "2"), ("msg", "hello")]).await;
    assert_eq!(reply["code"], 200);
    assert!(friend_ids(&sim, &a).is_empty(), "a request is not a friendship");
    let pending = sim.state().friendships(&b).requests_received;
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].from.as_str(), pending[0].msg.as_deref()), (a.as_str(), Some("hello")));

    // b accepts a's request.
    let reply = sim.call("friend/add", &[("accid", &b), ("faccid", &a), ("type", "3")]).await;
    assert_eq!(reply["code"], 200);
    assert_eq!(friend_ids(&sim, &a), [b.as_str()]);
    assert_eq!(friend_ids(&sim, &b), [a.as_str()]);
    assert!(sim.state().friendships(&b).requests_received.is_empty());
}

#[tokio::test]
async fn type_4_rejects_and_accepting_nothing_is_404() {
    let sim = Sim::start().await;
    let (a, b) = two_accounts(&sim).await;
    // Nothing pending: neither accept nor reject.
    for kind in ["3", "4"] {
        let reply = sim.call("friend/add", &[("accid", &b), ("faccid", &a), ("type", kind)]).await;
        assert_eq!(reply["code"], 404, "type {kind}: {reply}");
    }
    sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "2")]).await;
    // The requester cannot accept its own request.
    let reply = sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "3")]).await;
    assert_eq!(reply["code"], 404);
    let reply = sim.call("friend/add", &[("accid", &b), ("faccid", &a), ("type", "4")]).await;
    assert_eq!(reply["code"], 200);
    assert!(sim.state().friendships(&b).requests_received.is_empty());
    assert!(friend_ids(&sim, &a).is_empty());
    let reply = sim.call("friend/add", &[("accid", &b), ("faccid", &a), ("type", "3")]).await;
    assert_eq!(reply["code"], 404, "a rejected request is gone");
}

#[tokio::test]
async fn bad_friend_calls_are_refused_without_effect() {
    let sim = Sim::start().await;
    let (a, b) = two_accounts(&sim).await;
    let long = "m".repeat(257);
    let cases = [
        vec![("accid", a.as_str()), ("faccid", b.as_str()), ("type", "5")],
        vec![("accid", a.as_str()), ("faccid", b.as_str()), ("type", "x")],
        vec![("accid", a.as_str()), ("faccid", b.as_str())],
        vec![("accid", a.as_str()), ("faccid", "ghost"), ("type", "1")],
        vec![("accid", "ghost"), ("faccid", b.as_str()), ("type", "1")],
        vec![("accid", a.as_str()), ("faccid", a.as_str()), ("type", "1")],
        vec![("accid", a.as_str()), ("faccid", b.as_str()), ("type", "1"), ("msg", long.as_str())],
    ];
    for form in cases {
        let reply = sim.call("friend/add", &form).await;
        assert_eq!(reply["code"], 414, "{form:?}: {reply}");
    }
    let reply = sim.call("friend/add", &[("accid", &a), ("faccid", "ghost"), ("type", "1")]).await;
    assert!(reply["desc"].as_str().unwrap().contains("faccid not register"), "{reply}");
    assert!(friend_ids(&sim, &a).is_empty());
}

#[tokio::test]
async fn delete_ends_both_sides() {
    let sim = Sim::start().await;
    let (a, b) = two_accounts(&sim).await;
    sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "1")]).await;
    let reply = sim.call("friend/delete", &[("accid", &b), ("faccid", &a), ("isDeleteAlias", "true")]).await;
    assert_eq!(reply, json!({"code": 200}));
    assert!(friend_ids(&sim, &a).is_empty());
    assert!(friend_ids(&sim, &b).is_empty());
    // Deleting again is still a success.
    assert_eq!(sim.call("friend/delete", &[("accid", &b), ("faccid", &a)]).await["code"], 200);
    assert_eq!(sim.call("friend/delete", &[("accid", &b), ("faccid", "ghost")]).await["code"], 414);
}

#[tokio::test]
async fn get_lists_friends_changed_since_updatetime() {
    let sim = Sim::start().await;
    let (a, b) = two_accounts(&sim).await;
    let c = unique("fc");
    sim.create(&c).await;
    sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "1")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let between = imbridge_netease::sign::now_millis().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    sim.call("friend/add", &[("accid", &a), ("faccid", &c), ("type", "1")]).await;

    let all = sim.call("friend/get", &[("accid", &a), ("updatetime", "0")]).await;
    assert_eq!(all["code"], 200);
    assert_eq!(all["size"], 2);
    let recent = sim.call("friend/get", &[("accid", &a), ("updatetime", &between)]).await;
    let friends = recent["friends"].as_array().unwrap();
    assert_eq!(friends.len(), 1, "{recent}");
    assert_eq!(friends[0]["faccid"], c);
    assert!(friends[0]["createtime"].as_u64().unwrap() >= between.parse::<u64>().unwrap());

    let reply = sim.call("friend/update", &[("accid", &a), ("faccid", &b), ("alias", "bee")]).await;
    assert_eq!(reply["code"], 200);
    let recent = sim.call("friend/get", &[("accid", &a), ("updatetime", &between)]).await;
    assert_eq!(recent["size"], 2, "an update counts as a change: {recent}");
    let updated = recent["friends"].as_array().unwrap().iter().find(|f| f["faccid"] == b.as_str()).unwrap().clone();
    assert_eq!(updated["alias"], "bee");

    assert_eq!(sim.call("friend/get", &[("accid", &a)]).await["code"], 414);
    let reply = sim.call("friend/update", &[("accid", &b), ("faccid", &c), ("alias", "x")]).await;
    assert_eq!(reply["code"], 404, "not friends: {reply}");
}
