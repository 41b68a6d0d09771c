//! NetEase's parameter rules, shared by the client (validate before sending) and the simulator
//! (answer 414 like NetEase would). Lengths are in characters, except where a limit says bytes.

use imbridge_provider::{InvalidField, Profile};

pub const ACCID_MAX: usize = 32;
pub const NAME_MAX: usize = 64;
/// In bytes of UTF-8 (the official SDKs check bytes, netease.md §5).
pub const ICON_MAX: usize = 1024;
pub const TOKEN_MAX: usize = 128;
pub const SIGN_MAX: usize = 256;
pub const EMAIL_MAX: usize = 64;
pub const BIRTH_MAX: usize = 16;
pub const MOBILE_MAX: usize = 32;
pub const EX_MAX: usize = 1024;
pub const FRIEND_MSG_MAX: usize = 256;
pub const SERVEREX_MAX: usize = 256;
pub const ATTACH_MAX: usize = 4096;
pub const PUSHCONTENT_MAX: usize = 500;
pub const PAYLOAD_MAX: usize = 2048;
pub const SOUND_MAX: usize = 30;
pub const NONCE_MAX: usize = 128;
/// `user/getUinfos` accepts at most this many accids.
pub const GETUINFOS_MAX: usize = 200;
/// `msg/sendBatchAttachMsg` accepts at most this many recipients.
pub const BATCH_RECIPIENTS_MAX: usize = 500;
/// `msg/sendMsg` `body` (a JSON document).
pub const MSG_BODY_MAX: usize = 5000;
/// `msg/sendMsg` `ext`.
pub const MSG_EXT_MAX: usize = 1024;
/// Team ids (`tid`, numeric strings in practice): at most 32 characters, as the official SDKs check.
pub const TEAM_ID_MAX: usize = 32;
/// Our own bound on the `RequestId` header.
pub const REQUEST_ID_MAX: usize = 128;
/// `history/querySessionMsg` `limit` is 1..=this.
pub const HISTORY_LIMIT_MAX: u32 = 100;
/// The numeric message types `history/querySessionMsg` filters on (`type`): text, picture, audio,
/// video, location, notification, file, tips, robot, custom.
pub const HISTORY_MSG_TYPES: [u16; 10] = [0, 1, 2, 3, 4, 5, 6, 10, 11, 100];
/// NetEase documents no bound for a `msgidClient` (a UUID in practice); this is ours.
pub const MSGID_CLIENT_MAX: usize = 128;
/// NetEase documents no bound for msg/recall `msg` (the note); the push text's bound is used.
pub const RECALL_MSG_MAX: usize = PUSHCONTENT_MAX;

/// NetEase's canonical accid: lowercased, 1..=32 chars of `[a-z0-9_@.-]`.
pub fn normalize_accid(field: &str, accid: &str) -> Result<String, InvalidField> {
    let lower = accid.to_ascii_lowercase();
    if lower.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if lower.chars().count() > ACCID_MAX {
        return Err(InvalidField::new(field, format!("at most {ACCID_MAX} characters")));
    }
    if !lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_@.-".contains(c)) {
        return Err(InvalidField::new(field, "only letters, digits and _ @ . - are allowed"));
    }
    Ok(lower)
}

/// At most `max` characters.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), InvalidField> {
    if value.chars().count() > max {
        return Err(InvalidField::new(field, format!("at most {max} characters")));
    }
    Ok(())
}

/// At most `max` bytes of UTF-8.
pub fn check_bytes(field: &str, value: &str, max: usize) -> Result<(), InvalidField> {
    if value.len() > max {
        return Err(InvalidField::new(field, format!("at most {max} bytes")));
    }
    Ok(())
}

/// Optional value of at most `max` characters.
pub fn check_opt_len(field: &str, value: Option<&str>, max: usize) -> Result<(), InvalidField> {
    value.map_or(Ok(()), |v| check_len(field, v, max))
}

/// Gender must be 0 (unknown), 1 (male) or 2 (female).
pub fn check_gender(field: &str, gender: u8) -> Result<(), InvalidField> {
    if gender > 2 {
        return Err(InvalidField::new(field, "must be 0, 1 or 2"));
    }
    Ok(())
}

/// A JSON document of at most `max` characters.
pub fn check_json(field: &str, value: &str, max: usize) -> Result<(), InvalidField> {
    check_len(field, value, max)?;
    serde_json::from_str::<serde_json::Value>(value)
        .map(|_| ())
        .map_err(|_| InvalidField::new(field, "must be valid JSON"))
}

/// Every profile field against NetEase's limits (user/create and user/updateUinfo).
pub fn check_profile(profile: &Profile) -> Result<(), InvalidField> {
    check_opt_len("name", profile.name.as_deref(), NAME_MAX)?;
    profile.icon.as_deref().map_or(Ok(()), |icon| check_bytes("icon", icon, ICON_MAX))?;
    check_opt_len("sign", profile.sign.as_deref(), SIGN_MAX)?;
    check_opt_len("email", profile.email.as_deref(), EMAIL_MAX)?;
    check_opt_len("birth", profile.birth.as_deref(), BIRTH_MAX)?;
    check_opt_len("mobile", profile.mobile.as_deref(), MOBILE_MAX)?;
    if let Some(gender) = profile.gender {
        check_gender("gender", gender)?;
    }
    check_opt_len("ex", profile.ex.as_deref(), EX_MAX)
}

/// A team id: non-empty, bounded, no whitespace or control characters.
pub fn check_team_id(field: &str, tid: &str) -> Result<(), InvalidField> {
    if tid.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    check_len(field, tid, TEAM_ID_MAX)?;
    if tid.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidField::new(field, "must not contain whitespace"));
    }
    Ok(())
}

/// A history window: `begin` must be earlier than `end` (NetEase answers 414 "bad time"), and
/// neither may be negative.
pub fn check_time_window(begin_ms: i64, end_ms: i64) -> Result<(), InvalidField> {
    if begin_ms < 0 || end_ms < 0 {
        return Err(InvalidField::new("begintime", "bad time: times are ms since the epoch"));
    }
    if begin_ms >= end_ms {
        return Err(InvalidField::new("begintime", "bad time: begintime must be earlier than endtime"));
    }
    Ok(())
}

/// A history page size: 1..=100.
pub fn check_history_limit(limit: i64) -> Result<(), InvalidField> {
    if !(1..=i64::from(HISTORY_LIMIT_MAX)).contains(&limit) {
        return Err(InvalidField::new("limit", format!("must be 1 to {HISTORY_LIMIT_MAX}")));
    }
    Ok(())
}

/// History `type` filters: each one of [`HISTORY_MSG_TYPES`].
pub fn check_history_types(types: &[u16]) -> Result<(), InvalidField> {
    match types.iter().find(|t| !HISTORY_MSG_TYPES.contains(t)) {
        Some(t) => Err(InvalidField::new("type", format!("{t} is not a message type"))),
        None => Ok(()),
    }
}

/// A client message id (`msgidClient`): non-empty, bounded, no whitespace.
pub fn check_msgid_client(field: &str, id: &str) -> Result<(), InvalidField> {
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidField::new(field, "must be non-empty, without whitespace"));
    }
    check_len(field, id, MSGID_CLIENT_MAX)
}

/// A `RequestId` header value: 1..=128 visible ASCII characters.
pub fn check_request_id(field: &str, id: &str) -> Result<(), InvalidField> {
    if id.is_empty() || id.len() > REQUEST_ID_MAX || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidField::new(field, format!("1 to {REQUEST_ID_MAX} visible ASCII characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accid_is_lowercased_and_checked() {
        assert_eq!(normalize_accid("accid", "Buyer_01").unwrap(), "buyer_01");
        assert_eq!(normalize_accid("accid", "a@b.c-d").unwrap(), "a@b.c-d");
        assert!(normalize_accid("accid", "").is_err());
        assert!(normalize_accid("accid", &"a".repeat(33)).is_err());
        assert!(normalize_accid("accid", &"a".repeat(32)).is_ok());
        assert!(normalize_accid("accid", "bad id").is_err());
        assert!(normalize_accid("accid", "名字").is_err());
    }

    #[test]
    fn profile_limits_name_the_field() {
        let ok = Profile { name: Some("n".repeat(64)), gender: Some(2), ..Profile::default() };
        assert!(check_profile(&ok).is_ok());
        let long = Profile { email: Some("e".repeat(65)), ..Profile::default() };
        assert_eq!(check_profile(&long).unwrap_err().field, "email");
        let gender = Profile { gender: Some(3), ..Profile::default() };
        assert_eq!(check_profile(&gender).unwrap_err().field, "gender");
        // icon counts bytes: 512 three-byte characters are 1536 bytes.
        let wide = Profile { icon: Some("图".repeat(512)), ..Profile::default() };
        assert_eq!(check_profile(&wide).unwrap_err().field, "icon");
        let ascii = Profile { icon: Some("i".repeat(1024)), ..Profile::default() };
        assert!(check_profile(&ascii).is_ok());
    }

    #[test]
    fn history_parameters() {
        assert!(check_time_window(1, 2).is_ok());
        assert!(check_time_window(2, 2).unwrap_err().reason.contains("bad time"));
        assert!(check_time_window(-1, 2).is_err());
        assert!(check_history_limit(1).is_ok() && check_history_limit(100).is_ok());
        assert!(check_history_limit(0).is_err() && check_history_limit(101).is_err());
        assert!(check_history_types(&[0, 100]).is_ok());
        assert_eq!(check_history_types(&[0, 7]).unwrap_err().field, "type");
    }

    #[test]
    fn team_ids_are_at_most_32_characters() {
        assert!(check_team_id("tid", &"1".repeat(32)).is_ok());
        assert!(check_team_id("tid", &"1".repeat(33)).is_err());
    }

    #[test]
    fn request_ids_are_visible_ascii() {
        assert!(check_request_id("request_id", "op-1:update").is_ok());
        assert!(check_request_id("request_id", "").is_err());
        assert!(check_request_id("request_id", "a b").is_err());
        assert!(check_request_id("request_id", "é").is_err());
        assert!(check_request_id("request_id", &"r".repeat(129)).is_err());
    }
}
