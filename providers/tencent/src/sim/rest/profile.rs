//! `profile/portrait_set` and `portrait_get`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_user_id, imported, parse, Ctx, Reply, RestError, RestResult};
use crate::sim::world::World;

/// Most accounts per `portrait_get`.
const MAX_GET: usize = 100;

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "Tag")]
    tag: String,
    #[serde(rename = "Value")]
    value: Value,
}

#[derive(Deserialize)]
struct SetBody {
    #[serde(rename = "From_Account")]
    from: String,
    #[serde(rename = "ProfileItem")]
    items: Vec<Item>,
}

/// Checks one tag's value: 40009 for a tag Tencent does not know, 70402 for a wrong value.
fn check_item(item: &Item) -> RestResult<()> {
    let text = || item.value.as_str().ok_or_else(|| RestError::param(format!("{} takes a string", item.tag)));
    let number = || item.value.as_u64().ok_or_else(|| RestError::param(format!("{} takes an integer", item.tag)));
    match item.tag.as_str() {
        "Tag_Profile_IM_Nick"
        | "Tag_Profile_IM_Image"
        | "Tag_Profile_IM_SelfSignature"
        | "Tag_Profile_IM_Location"
        | "Tag_Profile_IM_AdminForbidType" => text().map(drop),
        "Tag_Profile_IM_Gender" => match text()? {
            "Gender_Type_Unknown" | "Gender_Type_Female" | "Gender_Type_Male" => Ok(()),
            other => Err(RestError::param(format!("Tag_Profile_IM_Gender: unknown value {other}"))),
        },
        "Tag_Profile_IM_AllowType" => match text()? {
            "AllowType_Type_NeedConfirm" | "AllowType_Type_AllowAny" | "AllowType_Type_DenyAny" => Ok(()),
            other => Err(RestError::param(format!("Tag_Profile_IM_AllowType: unknown value {other}"))),
        },
        "Tag_Profile_IM_BirthDay" => {
            let n = number()?;
            u32::try_from(n).map(drop).map_err(|_| RestError::param("Tag_Profile_IM_BirthDay takes a u32 (yyyymmdd)"))
        }
        "Tag_Profile_IM_Language" | "Tag_Profile_IM_MsgSettings" | "Tag_Profile_IM_Level" | "Tag_Profile_IM_Role" => {
            number().map(drop)
        }
        tag if tag.starts_with("Tag_Profile_Custom_") => {
            if item.value.is_string() || item.value.is_u64() {
                Ok(())
            } else {
                Err(RestError::param(format!("{tag} takes a string or an integer")))
            }
        }
        tag => Err(RestError::new(
            40009,
            format!(
                "Invalid field: {tag}. You may not configure custom fields in the console or use the wrong fields."
            ),
        )),
    }
}

/// Sets profile tags; every item is checked before any is applied.
pub(super) fn portrait_set(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: SetBody = parse(body)?;
    imported(world, "From_Account", &b.from)?;
    if b.items.is_empty() {
        return Err(RestError::param("ProfileItem must not be empty"));
    }
    b.items.iter().try_for_each(check_item)?;
    let Some(account) = world.accounts.get_mut(&b.from) else {
        return Err(RestError::not_imported("From_Account", &b.from));
    };
    for item in b.items {
        match item.tag.as_str() {
            "Tag_Profile_IM_Nick" => account.nick = item.value.as_str().unwrap_or_default().to_owned(),
            "Tag_Profile_IM_Image" => account.face_url = item.value.as_str().unwrap_or_default().to_owned(),
            _ => {}
        }
        account.profile.insert(item.tag, item.value);
    }
    Ok(Reply::fields(json!({"ErrorDisplay": ""})))
}

#[derive(Deserialize)]
struct GetBody {
    #[serde(rename = "To_Account")]
    to: Vec<String>,
    #[serde(rename = "TagList")]
    tags: Vec<String>,
}

/// The tags asked for, of each account (only tags that were set; unknown accounts in `FailAccount`).
pub(super) fn portrait_get(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: GetBody = parse(body)?;
    if b.to.is_empty() || b.to.len() > MAX_GET {
        return Err(RestError::param(format!("To_Account must hold 1..={MAX_GET} UserIDs")));
    }
    if b.tags.is_empty() {
        return Err(RestError::param("TagList must not be empty"));
    }
    b.to.iter().try_for_each(|id| check_user_id("To_Account", id))?;
    let mut items = Vec::new();
    let mut fail = Vec::new();
    for id in &b.to {
        match world.accounts.get(id) {
            Some(a) => {
                let profile: Vec<Value> =
                    b.tags.iter().filter_map(|t| a.profile.get(t).map(|v| json!({"Tag": t, "Value": v}))).collect();
                items.push(json!({"To_Account": id, "ProfileItem": profile, "ResultCode": 0, "ResultInfo": ""}));
            }
            None => {
                fail.push(id.clone());
                let info = format!("{id} is not imported");
                items.push(json!({"To_Account": id, "ProfileItem": [], "ResultCode": 70107, "ResultInfo": info}));
            }
        }
    }
    Ok(Reply::fields(json!({"UserProfileItem": items, "FailAccount": fail, "ErrorDisplay": ""})))
}
