//! Accounts (`im_open_login_svc`), profile (`profile/portrait_set`) and online status.

use imbridge_provider::InvalidField;
use serde_json::{json, Map, Value};

use super::lenient;
use super::validate::{self, ACCOUNT_CHECK_MAX, ONLINE_STATUS_MAX};
use super::TencentClient;
use crate::error::TencentError;

impl TencentClient {
    /// `im_open_login_svc/account_import`. Importing an existing account again succeeds
    /// (Tencent's import is idempotent), so this is safe to retry.
    pub async fn account_import(
        &self,
        user_id: &str,
        nick: Option<&str>,
        face_url: Option<&str>,
    ) -> Result<(), TencentError> {
        validate::user_id("user_id", user_id)?;
        let mut body = Map::new();
        body.insert("UserID".into(), json!(user_id));
        if let Some(nick) = nick {
            body.insert("Nick".into(), json!(nick));
        }
        if let Some(face_url) = face_url {
            body.insert("FaceUrl".into(), json!(face_url));
        }
        self.call("im_open_login_svc/account_import", &Value::Object(body)).await?;
        Ok(())
    }

    /// `im_open_login_svc/account_check` for 1..=100 accounts: whether each was imported, in
    /// Tencent's order. An item Tencent could not check (non-zero `ResultCode`) fails the call.
    pub async fn account_check(&self, user_ids: &[&str]) -> Result<Vec<(String, bool)>, TencentError> {
        validate::user_ids("user_ids", user_ids, ACCOUNT_CHECK_MAX)?;
        let items: Vec<Value> = user_ids.iter().map(|id| json!({ "UserID": id })).collect();
        let reply = self.call("im_open_login_svc/account_check", &json!({ "CheckItem": items })).await?;
        lenient::list(&reply, "ResultItem")?
            .iter()
            .map(|item| {
                let user_id = lenient::req_str(item, "UserID")?;
                if let Some(code) = lenient::opt_i64(item, "ResultCode")?.filter(|c| *c != 0) {
                    let info = lenient::opt_str(item, "ResultInfo").unwrap_or_default();
                    return Err(TencentError::Api { code, info: format!("{user_id}: {info}"), request_id: None });
                }
                let status = lenient::req_str(item, "AccountStatus")?;
                Ok((user_id, status.trim().eq_ignore_ascii_case("Imported")))
            })
            .collect()
    }

    /// `profile/portrait_set`: set profile tags (`Tag_Profile_IM_Nick`, `Tag_Profile_IM_Image`,
    /// ...) of one account.
    pub async fn portrait_set(&self, account: &str, items: &[(&str, Value)]) -> Result<(), TencentError> {
        validate::user_id("account", account)?;
        if items.is_empty() {
            return Err(InvalidField::new("items", "must not be empty").into());
        }
        if let Some((tag, _)) = items.iter().find(|(tag, _)| !tag.starts_with("Tag_Profile_")) {
            return Err(InvalidField::new("items", format!("`{tag}` is not a Tag_Profile_* tag")).into());
        }
        let profile: Vec<Value> = items.iter().map(|(tag, value)| json!({ "Tag": tag, "Value": value })).collect();
        self.call("profile/portrait_set", &json!({ "From_Account": account, "ProfileItem": profile })).await?;
        Ok(())
    }

    /// `openim/query_online_status` for 1..=500 accounts: `(To_Account, Status)` with Status
    /// `Online`, `PushOnline` or `Offline`, as Tencent lists them. Accounts Tencent reports in
    /// `ErrorList` (e.g. never imported) are left out.
    pub async fn query_online_status(&self, accounts: &[&str]) -> Result<Vec<(String, String)>, TencentError> {
        validate::user_ids("accounts", accounts, ONLINE_STATUS_MAX)?;
        let reply = self.call("openim/query_online_status", &json!({ "To_Account": accounts })).await?;
        for err in lenient::list(&reply, "ErrorList")? {
            tracing::debug!(account = %err.get("To_Account").map(lenient::text).unwrap_or_default(), code = ?err.get("ErrorCode"), "tencent online status not available");
        }
        lenient::list(&reply, "QueryResult")?
            .iter()
            .map(|item| Ok((lenient::req_str(item, "To_Account")?, lenient::req_str(item, "Status")?)))
            .collect()
    }
}
