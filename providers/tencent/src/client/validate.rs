//! What Tencent would refuse, checked before anything is sent (tencent.md §1).

use imbridge_provider::InvalidField;

/// UserID: at most 32 bytes (account_import).
pub const USER_ID_MAX_BYTES: usize = 32;
/// `openim/batchsendmsg` recipients per call.
pub const BATCH_RECIPIENTS_MAX: usize = 500;
/// `openim/get_c2c_unread_msg_num` peers per call.
pub const UNREAD_PEERS_MAX: usize = 10;
/// `openim/query_online_status` accounts per call.
pub const ONLINE_STATUS_MAX: usize = 500;
/// `im_open_login_svc/account_check` accounts per call.
pub const ACCOUNT_CHECK_MAX: usize = 100;

/// A UserID Tencent accepts: non-empty, at most 32 bytes, no control characters.
pub fn user_id(field: &str, id: &str) -> Result<(), InvalidField> {
    if id.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if id.len() > USER_ID_MAX_BYTES {
        return Err(InvalidField::new(field, format!("at most {USER_ID_MAX_BYTES} bytes")));
    }
    if id.chars().any(char::is_control) {
        return Err(InvalidField::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// A list of UserIDs: 1..=max, each valid.
pub fn user_ids<S: AsRef<str>>(field: &str, ids: &[S], max: usize) -> Result<(), InvalidField> {
    if ids.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if ids.len() > max {
        return Err(InvalidField::new(field, format!("at most {max} per call")));
    }
    ids.iter().try_for_each(|id| user_id(field, id.as_ref()))
}

/// `service/command`: lowercase letters, digits and `_`, exactly one `/` in between. Anything else
/// would change the URL's path (or query) in ways the caller did not mean.
pub fn endpoint(endpoint: &str) -> Result<(), InvalidField> {
    let ok_part = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match endpoint.split_once('/') {
        Some((service, command)) if ok_part(service) && ok_part(command) => Ok(()),
        _ => Err(InvalidField::new("endpoint", format!("`{endpoint}` is not service/command"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert!(user_id("u", "a").is_ok());
        assert!(user_id("u", &"a".repeat(32)).is_ok());
        assert!(user_id("u", &"a".repeat(33)).is_err());
        assert!(user_id("u", "").is_err());
        assert!(user_id("u", "a\nb").is_err());
        // 11 three-byte characters = 33 bytes.
        assert!(user_id("u", &"é".repeat(16)).is_ok());
        assert!(user_id("u", &"中".repeat(11)).is_err());
        assert!(user_ids::<&str>("l", &[], 3).is_err());
        assert!(user_ids("l", &["a", "b", "c", "d"], 3).is_err());
        assert!(user_ids("l", &["a", ""], 3).is_err());
        assert!(endpoint("openim/sendmsg").is_ok());
        assert!(endpoint("im_open_login_svc/account_import").is_ok());
        for bad in ["openim", "/sendmsg", "openim/", "a/b/c", "a/b?x=1", "../x", ""] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }
}
