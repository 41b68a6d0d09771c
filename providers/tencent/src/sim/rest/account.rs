//! `im_open_login_svc/*`: importing and checking accounts.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_user_id, parse, Ctx, Reply, RestError, RestResult};
use crate::sim::model::Account;
use crate::sim::world::World;

/// Most accounts per `multiaccount_import` / `account_check`.
const MAX_BATCH: usize = 100;

#[derive(Deserialize)]
struct ImportBody {
    #[serde(rename = "UserID")]
    user_id: Option<String>,
    /// The field's old name, still accepted.
    #[serde(rename = "Identifier")]
    identifier: Option<String>,
    #[serde(rename = "Nick")]
    nick: Option<String>,
    #[serde(rename = "FaceUrl")]
    face_url: Option<String>,
}

fn import(world: &mut World, id: &str, nick: Option<&str>, face_url: Option<&str>, now: u64) {
    let account = world.accounts.entry(id.to_owned()).or_insert_with(|| Account {
        user_id: id.to_owned(),
        nick: String::new(),
        face_url: String::new(),
        profile: BTreeMap::new(),
        imported_at: now,
        online: Vec::new(),
    });
    if let Some(nick) = nick {
        account.nick = nick.to_owned();
        account.profile.insert("Tag_Profile_IM_Nick".into(), json!(nick));
    }
    if let Some(url) = face_url {
        account.face_url = url.to_owned();
        account.profile.insert("Tag_Profile_IM_Image".into(), json!(url));
    }
}

/// Imports one account; importing it again succeeds and updates the Nick/FaceUrl given.
pub(super) fn account_import(world: &mut World, body: &Value, ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: ImportBody = parse(body)?;
    let Some(id) = b.user_id.or(b.identifier) else {
        return Err(RestError::param("UserID is required"));
    };
    check_user_id("UserID", &id)?;
    import(world, &id, b.nick.as_deref(), b.face_url.as_deref(), ctx.now);
    Ok(Reply::default())
}

#[derive(Deserialize)]
struct MultiBody {
    #[serde(rename = "Accounts")]
    accounts: Vec<String>,
}

/// Imports up to 100 accounts; malformed ones are answered in `FailAccounts`.
pub(super) fn multiaccount_import(world: &mut World, body: &Value, ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: MultiBody = parse(body)?;
    if b.accounts.is_empty() || b.accounts.len() > MAX_BATCH {
        return Err(RestError::param(format!("Accounts must hold 1..={MAX_BATCH} UserIDs")));
    }
    let mut fail = Vec::new();
    for id in &b.accounts {
        if check_user_id("UserID", id).is_ok() {
            import(world, id, None, None, ctx.now);
        } else {
            fail.push(id.clone());
        }
    }
    Ok(Reply::fields(json!({ "FailAccounts": fail })))
}

#[derive(Deserialize)]
struct CheckItem {
    #[serde(rename = "UserID")]
    user_id: String,
}

#[derive(Deserialize)]
struct CheckBody {
    #[serde(rename = "CheckItem")]
    check_item: Vec<CheckItem>,
}

/// Whether each of up to 100 UserIDs is imported.
pub(super) fn account_check(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: CheckBody = parse(body)?;
    if b.check_item.is_empty() || b.check_item.len() > MAX_BATCH {
        return Err(RestError::param(format!("CheckItem must hold 1..={MAX_BATCH} items")));
    }
    let items: Vec<Value> = b
        .check_item
        .iter()
        .map(|c| {
            let status = if world.is_imported(&c.user_id) { "Imported" } else { "NotImported" };
            json!({"UserID": c.user_id, "ResultCode": 0, "ResultInfo": "", "AccountStatus": status})
        })
        .collect();
    Ok(Reply::fields(json!({ "ResultItem": items })))
}
