//! `sns/friend_add` and `sns/friend_delete`, both ways, idempotent.
//!
//! Both answer `ActionStatus: OK` with one `ResultItem {To_Account, ResultCode, ResultInfo}` per
//! peer; a peer's failure is only in its `ResultCode`. Code 30001 there means "already friends"
//! on add and "not friends" on delete (Tencent FAQ, see [`codes::SNS_PARAMETER_OR_RELATION`]) —
//! exactly the state the caller wants, so both count as success. 30001 also means "parameter
//! error", but the parameters here are fixed and validated locally, so a request-level parameter
//! error would come back as the envelope's ErrorCode instead.

use serde_json::{json, Value};

use super::lenient;
use super::validate;
use super::TencentClient;
use crate::error::{codes, TencentError};

impl TencentClient {
    /// Make `from` and `to` friends of each other, without asking either
    /// (`AddType: Add_Type_Both`, `ForceAddFlags: 1`). Already friends: success.
    pub async fn friend_add_both(&self, from: &str, to: &str) -> Result<(), TencentError> {
        validate::user_id("from", from)?;
        validate::user_id("to", to)?;
        let body = json!({
            "From_Account": from,
            "AddFriendItem": [{ "To_Account": to, "AddSource": "AddSource_Type_Server" }],
            "AddType": "Add_Type_Both",
            "ForceAddFlags": 1,
        });
        let reply = self.call("sns/friend_add", &body).await?;
        check_items(&reply, to, &[codes::SNS_PARAMETER_OR_RELATION])
    }

    /// End the friendship both ways (`DeleteType: Delete_Type_Both`). Not friends: success.
    pub async fn friend_delete_both(&self, from: &str, to: &str) -> Result<(), TencentError> {
        validate::user_id("from", from)?;
        validate::user_id("to", to)?;
        let body = json!({ "From_Account": from, "To_Account": [to], "DeleteType": "Delete_Type_Both" });
        let reply = self.call("sns/friend_delete", &body).await?;
        check_items(&reply, to, &[codes::SNS_PARAMETER_OR_RELATION, codes::SNS_NOT_FRIENDS])
    }
}

/// The `ResultItem` for `to`: success when its `ResultCode` is 0 or one of `accepted`. A reply
/// without items (nothing to say) is taken as success, like Tencent's envelope.
fn check_items(reply: &Value, to: &str, accepted: &[i64]) -> Result<(), TencentError> {
    for item in lenient::list(reply, "ResultItem")? {
        let account = lenient::opt_str(item, "To_Account").unwrap_or_default();
        if !account.is_empty() && account != to {
            continue;
        }
        let code = lenient::opt_i64(item, "ResultCode")?.unwrap_or(0);
        if code != 0 && !accepted.contains(&code) {
            let info = lenient::opt_str(item, "ResultInfo").unwrap_or_default();
            let request_id = lenient::opt_str(reply, "RequestId");
            return Err(TencentError::Api { code, info, request_id });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_item_codes() {
        let reply = |code: i64| json!({"ResultItem": [{"To_Account": "b", "ResultCode": code, "ResultInfo": "why"}]});
        assert!(check_items(&reply(0), "b", &[30001]).is_ok());
        assert!(check_items(&reply(30001), "b", &[30001]).is_ok());
        let err = check_items(&reply(30010), "b", &[30001]).unwrap_err();
        assert!(matches!(err, TencentError::Api { code: 30010, ref info, .. } if info == "why"), "{err:?}");
        assert!(check_items(&json!({}), "b", &[]).is_ok());
        assert!(check_items(&json!({"ResultItem": [{"To_Account": "c", "ResultCode": 1}]}), "b", &[]).is_ok());
    }
}
