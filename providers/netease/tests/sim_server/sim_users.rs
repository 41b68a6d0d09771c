//! user/*: create (validation, lowercasing, "already register"), tokens, profiles, blocking.

use serde_json::json;

use crate::helpers::{unique, Sim};

#[tokio::test]
async fn create_lowercases_and_generates_a_token() {
    let sim = Sim::start().await;
    let accid = unique("Buyer");
    let reply = sim.call("user/create", &[("accid", &accid), ("name", "张三")]).await;
    assert_eq!(reply["code"], 200, "{reply}");
    let info = &reply["info"];
    assert_eq!(info["accid"], accid.to_lowercase());
    assert_eq!(info["name"], "张三");
    let token = info["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");

    let stored = sim.state().account(&accid).unwrap();
    assert_eq!(stored.accid, accid.to_lowercase());
    assert_eq!(stored.token, token);
    assert_eq!(stored.name.as_deref(), Some("张三"));
    assert!(sim.state().login_ok(&accid, token));
}

#[tokio::test]
async fn create_keeps_a_given_token_and_profile() {
    let sim = Sim::start().await;
    let accid = unique("u");
    let form = [
        ("accid", accid.as_str()),
        ("token", "my-token"),
        ("icon", "https://x/icon.png"),
        ("sign", "hi"),
        ("email", "a@b.c"),
        ("birth", "2000-01-01"),
        ("mobile", "13800000000"),
        ("gender", "2"),
        ("ex", "{\"k\":1}"),
    ];
    let reply = sim.call("user/create", &form).await;
    assert_eq!(reply["info"]["token"], "my-token");
    let a = sim.get(&format!("/__sim/accounts/{accid}")).await;
    assert_eq!(a["token"], "my-token");
    assert_eq!(a["gender"], 2);
    assert_eq!(a["email"], "a@b.c");
    assert_eq!(a["ex"], "{\"k\":1}");
    assert_eq!(a["blocked"], false);
}

#[tokio::test]
async fn an_existing_accid_is_already_register_in_any_case() {
    let sim = Sim::start().await;
    let accid = unique("dup");
    let token = sim.create(&accid).await;
    let reply = sim.call("user/create", &[("accid", &accid.to_uppercase()), ("token", "other")]).await;
    assert_eq!(reply, json!({"code": 414, "desc": "already register"}));
    assert_eq!(sim.state().account(&accid).unwrap().token, token, "the first token stays");
}

#[tokio::test]
async fn invalid_parameters_are_414_and_create_nothing() {
    let sim = Sim::start().await;
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![], "accid"),
        (vec![("accid", "has space".into())], "accid"),
        (vec![("accid", "名字".into())], "accid"),
        (vec![("accid", long(33))], "accid"),
        (vec![("name", long(65))], "name"),
        (vec![("icon", long(1025))], "icon"),
        // Bytes, not characters: 342 three-byte characters are 1026 bytes.
        (vec![("icon", "图".repeat(342))], "icon"),
        (vec![("token", long(129))], "token"),
        (vec![("sign", long(257))], "sign"),
        (vec![("email", long(65))], "email"),
        (vec![("birth", long(17))], "birth"),
        (vec![("mobile", long(33))], "mobile"),
        (vec![("gender", "3".into())], "gender"),
        (vec![("gender", "-1".into())], "gender"),
        (vec![("gender", "male".into())], "gender"),
        (vec![("ex", long(1025))], "ex"),
    ];
    for (fields, named) in cases {
        let accid = unique("bad");
        let mut form: Vec<(&str, &str)> = vec![];
        if !fields.iter().any(|(k, _)| *k == "accid") && named != "accid" {
            form.push(("accid", &accid));
        }
        form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let reply = sim.call("user/create", &form).await;
        assert_eq!(reply["code"], 414, "{form:?}: {reply}");
        assert!(reply["desc"].as_str().unwrap().contains(named), "{form:?}: {reply}");
    }
    assert!(sim.state().accounts().is_empty());
    // The limits themselves are accepted.
    let accid = "a".repeat(32);
    let reply = sim.call("user/create", &[("accid", &accid), ("name", &long(64)), ("gender", "0")]).await;
    assert_eq!(reply["code"], 200, "{reply}");
}

#[tokio::test]
async fn only_the_newest_token_logs_in() {
    let sim = Sim::start().await;
    let accid = unique("tok");
    let first = sim.create(&accid).await;

    let reply = sim.call("user/refreshToken", &[("accid", &accid)]).await;
    assert_eq!(reply["code"], 200);
    assert_eq!(reply["info"]["accid"], accid);
    let second = reply["info"]["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);

    let (_, old) = sim.post("/__sim/login", json!({"accid": accid, "token": first})).await;
    assert_eq!(old, json!({"ok": false, "code": 302}));
    let (_, new) = sim.post("/__sim/login", json!({"accid": accid, "token": second})).await;
    assert_eq!(new, json!({"ok": true, "code": 200}));

    let reply = sim.call("user/update", &[("accid", &accid), ("token", "chosen")]).await;
    assert_eq!(reply, json!({"code": 200}));
    assert!(!sim.state().login_ok(&accid, &second));
    assert!(sim.state().login_ok(&accid, "chosen"));
    assert!(!sim.state().login_ok("nobody_here", "chosen"));
}

#[tokio::test]
async fn calls_on_unknown_accounts_are_refused() {
    let sim = Sim::start().await;
    for api in ["user/refreshToken", "user/updateUinfo", "user/block", "user/unblock"] {
        let reply = sim.call(api, &[("accid", "ghost")]).await;
        assert_eq!(reply["code"], 414, "{api}: {reply}");
        assert!(reply["desc"].as_str().unwrap().contains("not register"), "{reply}");
    }
    let reply = sim.call("user/update", &[("accid", "ghost"), ("token", "t")]).await;
    assert_eq!(reply["code"], 414);
}

#[tokio::test]
async fn profiles_update_and_read_back() {
    let sim = Sim::start().await;
    let a = unique("p");
    let b = unique("p");
    sim.create(&a).await;
    sim.create(&b).await;
    let reply = sim.call("user/updateUinfo", &[("accid", &a), ("name", "Alice"), ("gender", "1")]).await;
    assert_eq!(reply, json!({"code": 200}));
    let reply = sim.call("user/updateUinfo", &[("accid", &a), ("gender", "7")]).await;
    assert_eq!(reply["code"], 414);

    let accids = serde_json::to_string(&[&a, &b.to_uppercase(), &"ghost".to_owned()]).unwrap();
    let reply = sim.call("user/getUinfos", &[("accids", &accids)]).await;
    assert_eq!(reply["code"], 200);
    let uinfos = reply["uinfos"].as_array().unwrap();
    assert_eq!(uinfos.len(), 2, "unknown accids are left out: {reply}");
    assert_eq!(uinfos[0], json!({"accid": a, "name": "Alice", "gender": 1, "valid": true, "mute": false}));
    assert_eq!(uinfos[1]["accid"], b);
}

#[tokio::test]
async fn get_uinfos_takes_at_most_200_accids() {
    let sim = Sim::start().await;
    let list = |n: usize| serde_json::to_string(&(0..n).map(|i| format!("u{i}")).collect::<Vec<_>>()).unwrap();
    let reply = sim.call("user/getUinfos", &[("accids", &list(200))]).await;
    assert_eq!(reply["code"], 200);
    let reply = sim.call("user/getUinfos", &[("accids", &list(201))]).await;
    assert_eq!(reply["code"], 414, "{reply}");
    let reply = sim.call("user/getUinfos", &[("accids", "u1,u2")]).await;
    assert_eq!(reply["code"], 414, "not a JSON array: {reply}");
}

#[tokio::test]
async fn a_blocked_account_cannot_log_in_until_unblocked() {
    let sim = Sim::start().await;
    let accid = unique("blk");
    let token = sim.create(&accid).await;
    let reply = sim.call("user/block", &[("accid", &accid), ("needkick", "true")]).await;
    assert_eq!(reply, json!({"code": 200}));
    assert!(sim.state().account(&accid).unwrap().blocked);
    let (_, login) = sim.post("/__sim/login", json!({"accid": accid, "token": token})).await;
    assert_eq!(login, json!({"ok": false, "code": 422}));
    let accids = json!([accid]).to_string();
    let uinfos = sim.call("user/getUinfos", &[("accids", &accids)]).await;
    assert_eq!(uinfos["uinfos"][0]["valid"], false, "a blocked account is not valid: {uinfos}");

    assert_eq!(sim.call("user/unblock", &[("accid", &accid)]).await["code"], 200);
    assert!(sim.state().login_ok(&accid, &token));
}

#[tokio::test]
async fn the_inspection_api_lists_accounts() {
    let sim = Sim::start().await;
    let accid = unique("list");
    sim.create(&accid).await;
    let all = sim.get("/__sim/accounts").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["accid"], accid);
    let response = sim.http.get(format!("{}/__sim/accounts/ghost", sim.handle.root_url())).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
}
