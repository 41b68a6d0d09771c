//! NetEase's parameter rules, shared by the client (validate before sending) and the simulator
//! (answer 414 like NetEase would). Lengths are in characters.

use imbridge_provider::InvalidField;

pub const ACCID_MAX: usize = 32;
pub const NAME_MAX: usize = 64;
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
}
