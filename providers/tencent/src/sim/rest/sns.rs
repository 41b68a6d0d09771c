//! `sns/friend_add`, `friend_delete`, `friend_get`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_user_id, imported, parse, Ctx, Reply, RestError, RestResult};
use crate::sim::model::Friend;
use crate::sim::world::World;

/// Most peers per `friend_delete` (Tencent's documented cap).
const MAX_DELETE: usize = 1000;
/// Page size of `friend_get`.
const GET_PAGE: usize = 100;

#[derive(Deserialize)]
struct AddItem {
    #[serde(rename = "To_Account")]
    to: String,
    #[serde(rename = "AddSource")]
    add_source: String,
}

#[derive(Deserialize)]
struct AddBody {
    #[serde(rename = "From_Account")]
    from: String,
    #[serde(rename = "AddFriendItem")]
    items: Vec<AddItem>,
    #[serde(rename = "AddType", default)]
    add_type: Option<String>,
    #[serde(rename = "ForceAddFlags", default)]
    force: Option<u8>,
}

fn link(world: &mut World, owner: &str, peer: &str, source: &str, now: u64) {
    world.friends.entry(owner.to_owned()).or_default().entry(peer.to_owned()).or_insert_with(|| Friend {
        user_id: peer.to_owned(),
        add_source: source.to_owned(),
        since: now,
    });
}

/// Adds friends. Every item is treated as force-added (the sim models no friend requests);
/// adding an existing friend answers 0 again. Per item: 70107 for an account never imported,
/// 70402 for adding oneself; those go to `Fail_Account`.
pub(super) fn friend_add(world: &mut World, body: &Value, ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: AddBody = parse(body)?;
    imported(world, "From_Account", &b.from)?;
    if b.items.is_empty() {
        return Err(RestError::param("AddFriendItem must not be empty"));
    }
    let both = match b.add_type.as_deref() {
        None | Some("Add_Type_Both") => true,
        Some("Add_Type_Single") => false,
        Some(other) => return Err(RestError::param(format!("AddType: unknown value {other}"))),
    };
    if b.force.is_some_and(|f| f > 1) {
        return Err(RestError::param("ForceAddFlags must be 0 or 1"));
    }
    for item in &b.items {
        check_user_id("To_Account", &item.to)?;
        let suffix = item.add_source.strip_prefix("AddSource_Type_").unwrap_or_default();
        if suffix.is_empty() || suffix.len() > 8 {
            return Err(RestError::param("AddSource must be AddSource_Type_ followed by 1..=8 characters"));
        }
    }
    let mut results = Vec::new();
    let mut fail = Vec::new();
    for item in &b.items {
        let (code, info) = if item.to == b.from {
            (70402, "cannot add oneself".to_owned())
        } else if !world.is_imported(&item.to) {
            (70107, format!("{} is not imported", item.to))
        } else {
            link(world, &b.from, &item.to, &item.add_source, ctx.now);
            if both {
                link(world, &item.to, &b.from, &item.add_source, ctx.now);
            }
            (0, String::new())
        };
        if code != 0 {
            fail.push(item.to.clone());
        }
        results.push(json!({"To_Account": item.to, "ResultCode": code, "ResultInfo": info}));
    }
    Ok(Reply::fields(json!({"ResultItem": results, "Fail_Account": fail, "ErrorDisplay": ""})))
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(rename = "From_Account")]
    from: String,
    #[serde(rename = "To_Account")]
    to: Vec<String>,
    #[serde(rename = "DeleteType", default)]
    delete_type: Option<String>,
}

/// Deletes friends; deleting a non-friend answers 0 too (idempotent).
pub(super) fn friend_delete(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: DeleteBody = parse(body)?;
    imported(world, "From_Account", &b.from)?;
    if b.to.is_empty() || b.to.len() > MAX_DELETE {
        return Err(RestError::param(format!("To_Account must hold 1..={MAX_DELETE} UserIDs")));
    }
    let both = match b.delete_type.as_deref() {
        None | Some("Delete_Type_Both") => true,
        Some("Delete_Type_Single") => false,
        Some(other) => return Err(RestError::param(format!("DeleteType: unknown value {other}"))),
    };
    b.to.iter().try_for_each(|id| check_user_id("To_Account", id))?;
    let mut results = Vec::new();
    for peer in &b.to {
        if let Some(f) = world.friends.get_mut(&b.from) {
            f.remove(peer);
        }
        if both {
            if let Some(f) = world.friends.get_mut(peer) {
                f.remove(&b.from);
            }
        }
        results.push(json!({"To_Account": peer, "ResultCode": 0, "ResultInfo": ""}));
    }
    Ok(Reply::fields(json!({"ResultItem": results, "Fail_Account": [], "ErrorDisplay": ""})))
}

#[derive(Deserialize)]
struct GetBody {
    #[serde(rename = "From_Account")]
    from: String,
    #[serde(rename = "StartIndex", default)]
    start: usize,
}

/// Friends in pages of 100, without profile values.
pub(super) fn friend_get(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: GetBody = parse(body)?;
    imported(world, "From_Account", &b.from)?;
    let all: Vec<&str> = world.friends.get(&b.from).map(|f| f.keys().map(String::as_str).collect()).unwrap_or_default();
    let page: Vec<Value> =
        all.iter().skip(b.start).take(GET_PAGE).map(|id| json!({"To_Account": id, "ValueItem": []})).collect();
    let next = b.start + page.len();
    let complete = next >= all.len();
    Ok(Reply::fields(json!({
        "UserDataItem": page,
        "StandardSequence": 0,
        "CustomSequence": 0,
        "FriendNum": all.len(),
        "CompleteFlag": u8::from(complete),
        "NextStartIndex": if complete { 0 } else { next },
        "ErrorDisplay": "",
    })))
}
