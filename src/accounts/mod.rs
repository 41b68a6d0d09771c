//! Accounts: the backend registers its users (buyers, sellers) with the IM provider and gets the
//! token their chat client logs in with.
//!
//! - `POST   /v1/accounts`                 create-or-get → `{accid, token, created}`
//! - `GET    /v1/accounts/{accid}`         the account's profile; never the token (a token is handed
//!   out only by create-or-get and refresh, the two calls a backend makes when a client needs one)
//! - `POST   /v1/accounts/{accid}/token`   a fresh token; the old one stops working
//! - `PATCH  /v1/accounts/{accid}`         profile fields
//! - `POST   /v1/accounts/{accid}/block`, `DELETE .../block`
//!
//! Per-account routes answer 404 for an accid the bridge did not register. All input is validated
//! before anything is stored or sent.

#[cfg(test)]
mod convergence_tests;
mod service;
mod single_flight;
pub mod store;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use imbridge_provider::{ImProvider, Profile};
use serde::{Deserialize, Serialize};

pub use service::{new_request_id, AccountService, Ensured};
pub use store::{AccountRow, AccountStore};

use crate::app::AppState;
use crate::error::{ApiJson, ApiPath, AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts", post(create_or_get))
        .route("/accounts/{accid}", get(show).patch(update))
        .route("/accounts/{accid}/token", post(refresh_token))
        .route("/accounts/{accid}/block", post(block).delete(unblock))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    pub account: String,
    pub name: Option<String>,
    pub icon: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AccountCredentials {
    pub accid: String,
    pub token: String,
    pub created: bool,
}

#[derive(Debug, Serialize)]
pub struct AccountToken {
    pub accid: String,
    pub token: String,
}

/// Profile fields NetEase keeps for an account; absent = unchanged.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    pub name: Option<String>,
    pub icon: Option<String>,
    pub sign: Option<String>,
    pub email: Option<String>,
    pub birth: Option<String>,
    pub mobile: Option<String>,
    /// 0 unknown, 1 male, 2 female.
    pub gender: Option<u8>,
    /// Free-form extension data (JSON text advised).
    pub ex: Option<String>,
}

/// What `GET /v1/accounts/{accid}` shows.
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub accid: String,
    pub name: Option<String>,
    pub icon: Option<String>,
    pub blocked: bool,
    /// RFC 3339, when the provider first accepted the account.
    pub created_at: String,
    pub updated_at: String,
}

impl From<AccountRow> for AccountView {
    fn from(row: AccountRow) -> Self {
        Self {
            created_at: rfc3339(row.registered_at_ms.unwrap_or(row.created_at_ms)),
            updated_at: rfc3339(row.updated_at_ms),
            accid: row.accid,
            name: row.name,
            icon: row.icon,
            blocked: row.blocked,
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The provider's canonical accid for `raw`, or a 422 naming `field`.
pub fn canonical_accid(provider: &dyn ImProvider, field: &str, raw: &str) -> Result<String, AppError> {
    provider.normalize_account(raw).map_err(|invalid| AppError::invalid(field, invalid.reason))
}

/// Validate `profile` against the provider's limits; a 422 names the field under `prefix`
/// (e.g. `buyer.name`).
pub fn check_profile(provider: &dyn ImProvider, prefix: &str, profile: &Profile) -> Result<(), AppError> {
    provider.validate_profile(profile).map_err(|invalid| {
        let field = if prefix.is_empty() { invalid.field } else { format!("{prefix}.{}", invalid.field) };
        AppError::invalid(field, invalid.reason)
    })
}

async fn create_or_get(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateAccount>,
) -> Result<Json<AccountCredentials>, AppError> {
    let provider = state.provider.as_ref();
    let accid = canonical_accid(provider, "account", &body.account)?;
    let profile = Profile { name: body.name, icon: body.icon, ..Profile::default() };
    check_profile(provider, "", &profile)?;
    let Ensured { account, created } = state.accounts.ensure(&accid, &profile).await?;
    Ok(Json(AccountCredentials { accid: account.accid, token: account.token, created }))
}

async fn show(State(state): State<AppState>, ApiPath(accid): ApiPath<String>) -> Result<Json<AccountView>, AppError> {
    let accid = canonical_accid(state.provider.as_ref(), "accid", &accid)?;
    Ok(Json(state.accounts.registered(&accid).await?.into()))
}

async fn refresh_token(
    State(state): State<AppState>,
    ApiPath(accid): ApiPath<String>,
) -> Result<Json<AccountToken>, AppError> {
    let accid = canonical_accid(state.provider.as_ref(), "accid", &accid)?;
    let account = state.accounts.refresh_token(&accid).await?;
    Ok(Json(AccountToken { accid: account.accid, token: account.token }))
}

async fn update(
    State(state): State<AppState>,
    ApiPath(accid): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateAccount>,
) -> Result<Json<AccountView>, AppError> {
    let provider = state.provider.as_ref();
    let accid = canonical_accid(provider, "accid", &accid)?;
    let profile = Profile {
        name: body.name,
        icon: body.icon,
        sign: body.sign,
        email: body.email,
        birth: body.birth,
        mobile: body.mobile,
        gender: body.gender,
        ex: body.ex,
    };
    if profile == Profile::default() {
        return Err(AppError::invalid(
            "(body)",
            "give at least one of name, icon, sign, email, birth, mobile, gender, ex",
        ));
    }
    check_profile(provider, "", &profile)?;
    Ok(Json(state.accounts.update_profile(&accid, &profile).await?.into()))
}

async fn block(State(state): State<AppState>, ApiPath(accid): ApiPath<String>) -> Result<Json<AccountView>, AppError> {
    set_blocked(state, accid, true).await
}

async fn unblock(
    State(state): State<AppState>,
    ApiPath(accid): ApiPath<String>,
) -> Result<Json<AccountView>, AppError> {
    set_blocked(state, accid, false).await
}

async fn set_blocked(state: AppState, accid: String, blocked: bool) -> Result<Json<AccountView>, AppError> {
    let accid = canonical_accid(state.provider.as_ref(), "accid", &accid)?;
    Ok(Json(state.accounts.set_blocked(&accid, blocked).await?.into()))
}
