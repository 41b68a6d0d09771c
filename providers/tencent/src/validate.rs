//! What Tencent IM would refuse, checked locally so that a refused call never leaves the bridge.
//!
//! Bounds are Tencent's documented ones where it documents them (UserID ≤ 32 bytes, profile strings
//! ≤ 500 bytes, a message body ≤ 12 KB, batchsendmsg ≤ 500 recipients, admin_getroammsg MaxCnt); the
//! UserID alphabet is the intersection of what Tencent allows and what the bridge's stores compare
//! (ASCII, lowercased), the same rule as NetEase's accids so an app can switch providers.

use imbridge_provider::{InvalidField, Profile};

pub use crate::client::validate::{BATCH_RECIPIENTS_MAX, USER_ID_MAX_BYTES as USER_ID_MAX};

/// `Tag_Profile_IM_Nick`, `Tag_Profile_IM_SelfSignature`, `Tag_Profile_IM_Image`: at most 500 bytes.
pub const PROFILE_STRING_MAX: usize = 500;
/// A message's body (all elements): at most 12 KB.
pub const MSG_BODY_MAX: usize = 12 * 1024;
/// History page size the bridge asks for: 1..=100 (Tencent caps replies at ~13 KB anyway).
pub const HISTORY_LIMIT_MAX: u32 = 100;

/// The canonical UserID: lowercased, 1..=32 bytes of `[a-z0-9_@.-]`.
pub fn normalize_user_id(field: &str, id: &str) -> Result<String, InvalidField> {
    let lower = id.to_ascii_lowercase();
    if lower.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if lower.len() > USER_ID_MAX {
        return Err(InvalidField::new(field, format!("at most {USER_ID_MAX} bytes")));
    }
    if !lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_@.-".contains(c)) {
        return Err(InvalidField::new(field, "only letters, digits and _ @ . - are allowed"));
    }
    Ok(lower)
}

fn check_bytes(field: &str, value: Option<&str>, max: usize) -> Result<(), InvalidField> {
    match value {
        Some(v) if v.len() > max => Err(InvalidField::new(field, format!("at most {max} bytes"))),
        _ => Ok(()),
    }
}

/// `Tag_Profile_IM_Gender` for the API's gender (0 unknown, 1 male, 2 female).
pub fn gender_tag(field: &str, gender: u8) -> Result<&'static str, InvalidField> {
    match gender {
        0 => Ok("Gender_Type_Unknown"),
        1 => Ok("Gender_Type_Male"),
        2 => Ok("Gender_Type_Female"),
        _ => Err(InvalidField::new(field, "must be 0 (unknown), 1 (male) or 2 (female)")),
    }
}

/// `Tag_Profile_IM_BirthDay` (a number `yyyymmdd`) from `yyyy-mm-dd` or `yyyymmdd`.
pub fn birthday(field: &str, birth: &str) -> Result<u32, InvalidField> {
    let digits: String = birth.chars().filter(|c| *c != '-').collect();
    let bad = || InvalidField::new(field, "must be a date, yyyy-mm-dd");
    if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_digit()) || birth.len() - digits.len() > 2 {
        return Err(bad());
    }
    let n: u32 = digits.parse().map_err(|_| bad())?;
    let (month, day) = (n / 100 % 100, n % 100);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    Ok(n)
}

/// Profile fields Tencent has a standard tag for; `email`, `mobile` and `ex` have none (custom
/// `Tag_Profile_Custom_*` fields must be declared in the console first), so they are refused rather
/// than silently dropped.
pub fn check_profile(profile: &Profile) -> Result<(), InvalidField> {
    check_bytes("name", profile.name.as_deref(), PROFILE_STRING_MAX)?;
    check_bytes("icon", profile.icon.as_deref(), PROFILE_STRING_MAX)?;
    check_bytes("sign", profile.sign.as_deref(), PROFILE_STRING_MAX)?;
    for (field, value) in [("email", &profile.email), ("mobile", &profile.mobile), ("ex", &profile.ex)] {
        if value.is_some() {
            return Err(InvalidField::new(field, "Tencent IM has no such profile field"));
        }
    }
    if let Some(gender) = profile.gender {
        gender_tag("gender", gender)?;
    }
    if let Some(birth) = &profile.birth {
        birthday("birth", birth)?;
    }
    Ok(())
}

/// `(Tag, Value)` pairs for `profile/portrait_set`, after [`check_profile`].
pub fn profile_items(profile: &Profile) -> Result<Vec<(&'static str, serde_json::Value)>, InvalidField> {
    check_profile(profile)?;
    let mut items = Vec::new();
    if let Some(name) = &profile.name {
        items.push(("Tag_Profile_IM_Nick", name.clone().into()));
    }
    if let Some(icon) = &profile.icon {
        items.push(("Tag_Profile_IM_Image", icon.clone().into()));
    }
    if let Some(sign) = &profile.sign {
        items.push(("Tag_Profile_IM_SelfSignature", sign.clone().into()));
    }
    if let Some(gender) = profile.gender {
        items.push(("Tag_Profile_IM_Gender", gender_tag("gender", gender)?.into()));
    }
    if let Some(birth) = &profile.birth {
        items.push(("Tag_Profile_IM_BirthDay", birthday("birth", birth)?.into()));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_lowercased_and_bounded() {
        assert_eq!(normalize_user_id("a", "Buyer_01").unwrap(), "buyer_01");
        assert!(normalize_user_id("a", "").is_err());
        assert!(normalize_user_id("a", &"x".repeat(33)).is_err());
        assert_eq!(normalize_user_id("a", &"x".repeat(32)).unwrap().len(), 32);
        assert_eq!(normalize_user_id("a", "a b").unwrap_err().field, "a");
        assert!(normalize_user_id("a", "é").is_err());
    }

    #[test]
    fn profiles_map_to_standard_tags_and_refuse_what_has_none() {
        let profile = Profile {
            name: Some("Ann".into()),
            gender: Some(2),
            birth: Some("1990-02-28".into()),
            ..Profile::default()
        };
        let items = profile_items(&profile).unwrap();
        assert_eq!(items[0], ("Tag_Profile_IM_Nick", "Ann".into()));
        assert_eq!(items[1], ("Tag_Profile_IM_Gender", "Gender_Type_Female".into()));
        assert_eq!(items[2], ("Tag_Profile_IM_BirthDay", 19_900_228.into()));
        let email = Profile { email: Some("a@b.c".into()), ..Profile::default() };
        assert_eq!(check_profile(&email).unwrap_err().field, "email");
        assert_eq!(birthday("birth", "1990-13-01").unwrap_err().field, "birth");
        assert!(birthday("birth", "yesterday").is_err());
        assert_eq!(gender_tag("gender", 3).unwrap_err().field, "gender");
        let long = Profile { name: Some("n".repeat(501)), ..Profile::default() };
        assert_eq!(check_profile(&long).unwrap_err().field, "name");
    }
}
