//! `user/*.action`: accounts, tokens, profiles, blocking.

use imbridge_provider::{InvalidField, Profile};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::form::Form;
use super::lenient;
use super::limits::ApiClass;
use super::NeteaseClient;
use crate::error::NeteaseError;
use crate::validate::{self, normalize_accid};

/// `user/create.action`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CreateUser {
    pub accid: String,
    /// The login token to register; NetEase generates one when `None`.
    pub token: Option<String>,
    pub profile: Profile,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("accid", &self.accid)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("profile", &self.profile)
            .finish()
    }
}

/// An account and its login token (`info` of user/create and user/refreshToken).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct UserToken {
    /// NetEase's canonical (lowercased) accid; authoritative.
    pub accid: String,
    pub token: String,
}

impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserToken").field("accid", &self.accid).field("token", &"[redacted]").finish()
    }
}

/// One entry of `user/getUinfos`' `uinfos`. Fields NetEase adds beyond these are kept in `other`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserInfo {
    pub accid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub sign: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub birth: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub gender: Option<i64>,
    #[serde(default)]
    pub ex: Option<String>,
    /// `false` once the account is blocked (user/block).
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub valid: Option<bool>,
    /// Whether the account is muted.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub mute: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Deserialize)]
pub(super) struct InfoReply<T> {
    info: T,
}

#[derive(Deserialize)]
pub(super) struct UinfosReply {
    #[serde(default)]
    uinfos: Vec<UserInfo>,
}

fn profile_fields(form: Form, profile: &Profile) -> Form {
    form.opt("name", profile.name.as_deref())
        .opt("icon", profile.icon.as_deref())
        .opt("sign", profile.sign.as_deref())
        .opt("email", profile.email.as_deref())
        .opt("birth", profile.birth.as_deref())
        .opt("mobile", profile.mobile.as_deref())
        .opt("gender", profile.gender.map(|g| g.to_string()).as_deref())
        .opt("ex", profile.ex.as_deref())
}

fn check_token(token: &str) -> Result<(), InvalidField> {
    if token.is_empty() {
        return Err(InvalidField::new("token", "must not be empty"));
    }
    validate::check_len("token", token, validate::TOKEN_MAX)
}

impl NeteaseClient {
    /// `user/create.action`. An existing accid answers `Api{414,"already register"}`
    /// ([`NeteaseError::is_already_registered`]).
    pub async fn create_user(&self, req: &CreateUser, request_id: Option<&str>) -> Result<UserToken, NeteaseError> {
        let accid = normalize_accid("accid", &req.accid)?;
        if let Some(token) = &req.token {
            check_token(token)?;
        }
        validate::check_profile(&req.profile)?;
        let form = profile_fields(Form::new().text("accid", accid).opt("token", req.token.as_deref()), &req.profile);
        let reply: InfoReply<UserToken> =
            self.call(ApiClass::PerSecond, "user/create.action", form, request_id).await?;
        Ok(reply.info)
    }

    /// `user/update.action`: set a login token of our choosing; older tokens stop logging in.
    pub async fn update_token(&self, accid: &str, token: &str, request_id: Option<&str>) -> Result<(), NeteaseError> {
        let accid = normalize_accid("accid", accid)?;
        check_token(token)?;
        let form = Form::new().text("accid", accid).text("token", token);
        self.call::<IgnoredAny>(ApiClass::PerSecond, "user/update.action", form, request_id).await?;
        Ok(())
    }

    /// `user/refreshToken.action`: NetEase issues a new token; only the newest one logs in.
    pub async fn refresh_token(&self, accid: &str, request_id: Option<&str>) -> Result<UserToken, NeteaseError> {
        let form = Form::new().text("accid", normalize_accid("accid", accid)?);
        let reply: InfoReply<UserToken> =
            self.call(ApiClass::PerSecond, "user/refreshToken.action", form, request_id).await?;
        Ok(reply.info)
    }

    /// `user/updateUinfo.action`: fields left `None` are unchanged.
    pub async fn update_uinfo(
        &self,
        accid: &str,
        profile: &Profile,
        request_id: Option<&str>,
    ) -> Result<(), NeteaseError> {
        let accid = normalize_accid("accid", accid)?;
        validate::check_profile(profile)?;
        let form = profile_fields(Form::new().text("accid", accid), profile);
        self.call::<IgnoredAny>(ApiClass::PerSecond, "user/updateUinfo.action", form, request_id).await?;
        Ok(())
    }

    /// `user/getUinfos.action` for 1..=200 accids. Unknown accids are simply absent from the answer
    /// when NetEase returns 200.
    pub async fn get_uinfos(&self, accids: &[String], request_id: Option<&str>) -> Result<Vec<UserInfo>, NeteaseError> {
        if accids.is_empty() {
            return Err(InvalidField::new("accids", "must not be empty").into());
        }
        if accids.len() > validate::GETUINFOS_MAX {
            return Err(InvalidField::new("accids", format!("at most {} per call", validate::GETUINFOS_MAX)).into());
        }
        let accids = accids.iter().map(|a| normalize_accid("accids", a)).collect::<Result<Vec<_>, _>>()?;
        let form = Form::new().list("accids", &accids);
        let reply: UinfosReply = self.call(ApiClass::PerSecond, "user/getUinfos.action", form, request_id).await?;
        Ok(reply.uinfos)
    }

    /// `user/block.action`: disable the account; `needkick` also logs its devices out.
    pub async fn block_user(&self, accid: &str, needkick: bool, request_id: Option<&str>) -> Result<(), NeteaseError> {
        let form = Form::new().text("accid", normalize_accid("accid", accid)?).text("needkick", needkick.to_string());
        self.call::<IgnoredAny>(ApiClass::PerSecond, "user/block.action", form, request_id).await?;
        Ok(())
    }

    /// `user/unblock.action`.
    pub async fn unblock_user(&self, accid: &str, request_id: Option<&str>) -> Result<(), NeteaseError> {
        let form = Form::new().text("accid", normalize_accid("accid", accid)?);
        self.call::<IgnoredAny>(ApiClass::PerSecond, "user/unblock.action", form, request_id).await?;
        Ok(())
    }
}
