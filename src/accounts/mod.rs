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
mod role;
mod service;
mod single_flight;
pub mod store;

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use imbridge_provider::{ImProvider, Profile};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub use role::{ChatPolicy, Role, DEFAULT_CHAT_POLICY};
pub use service::{new_request_id, AccountService, Ensured};
pub use store::{AccountRow, AccountStore};

use crate::accid::{check_profile, Accid};
use crate::error::{ApiJson, ApiPath, AppError, ErrorBody};

/// What the account routes need (derived from the app's state with [`FromRef`]).
#[derive(Clone)]
pub struct AccountsState {
    pub provider: Arc<dyn ImProvider>,
    pub accounts: AccountService,
}

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AccountsState: FromRef<S>,
{
    Router::new()
        .route("/accounts", post(create_or_get))
        .route("/accounts/{accid}", get(show).patch(update))
        .route("/accounts/{accid}/token", post(refresh_token))
        .route("/accounts/{accid}/block", post(block).delete(unblock))
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(create_or_get, show, update, refresh_token, block, unblock))]
pub struct ApiDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"account": "Buyer_01", "name": "Alice"}))]
pub struct CreateAccount {
    /// The shop's username; lowercased into the accid (NetEase: at most 32 of `[a-z0-9_@.-]`).
    pub account: String,
    /// Used when the account is registered by this call.
    pub name: Option<String>,
    /// Avatar URL, used when the account is registered by this call.
    pub icon: Option<String>,
    /// `buyer`, `seller` or `agent`. Fixed once set; without it the account takes the role of the
    /// slot it is first used in (buyer or seller of `POST /v1/chats`, a shop's owner or agent).
    pub role: Option<Role>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accid": "buyer_01", "token": "6f1e0c1d6c0a4b8e9d2f3a4b5c6d7e8f", "expires_at": null, "created": true, "role": "buyer"}))]
pub struct AccountCredentials {
    /// The canonical account id (the chat client logs in with it).
    pub accid: String,
    /// The credential the chat client logs in with (NetEase: the token; Tencent: a UserSig).
    pub token: String,
    /// When the credential stops working (ms since the epoch): `null` for NetEase tokens, which do
    /// not expire; set for Tencent UserSigs, which the app refreshes before then.
    pub expires_at: Option<i64>,
    /// This call registered the account (it did not exist for the bridge before).
    pub created: bool,
    /// The account's role, `null` until it has one.
    pub role: Option<Role>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accid": "buyer_01", "token": "6f1e0c1d6c0a4b8e9d2f3a4b5c6d7e8f", "expires_at": null}))]
pub struct AccountToken {
    pub accid: String,
    /// The credential the chat client logs in with (NetEase: the token; Tencent: a UserSig).
    pub token: String,
    /// When it stops working (ms since the epoch); `null` when it does not expire (NetEase).
    pub expires_at: Option<i64>,
}

impl AccountToken {
    pub fn new(accid: &str, credential: imbridge_provider::Credential) -> Self {
        let expires_at = credential
            .expires_at
            .map(|at| at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default());
        Self { accid: accid.to_owned(), token: credential.token, expires_at }
    }
}

/// `{accid}` in the per-account routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccidPath {
    /// The account id; matched case-insensitively (lowercased, as at registration).
    #[param(example = "buyer_01")]
    pub accid: String,
}

/// Profile fields NetEase keeps for an account; absent = unchanged.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Alice W.", "icon": "https://cdn.example.com/a.png", "sign": "hi", "ex": "{\"vip\":1}"}))]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accid": "buyer_01", "name": "Alice", "icon": null, "blocked": false, "role": "buyer",
    "created_at": "2025-01-02T03:04:05.678Z", "updated_at": "2025-01-02T03:04:05.678Z"}))]
pub struct AccountView {
    pub accid: String,
    pub name: Option<String>,
    pub icon: Option<String>,
    pub blocked: bool,
    /// `buyer`, `seller` or `agent`; `null` until the account has one.
    pub role: Option<Role>,
    /// RFC 3339, when the provider first accepted the account.
    pub created_at: String,
    pub updated_at: String,
}

impl From<AccountRow> for AccountView {
    fn from(row: AccountRow) -> Self {
        Self {
            created_at: rfc3339(row.registered_at_ms.unwrap_or(row.created_at_ms)),
            updated_at: rfc3339(row.updated_at_ms),
            role: row.role(),
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

/// Create-or-get an account.
///
/// Registers the account with the IM provider unless the bridge already has it, and returns the
/// token its chat client logs in with. The same account always returns the same working token;
/// concurrent calls for one new account make one provider call. An account that exists at the
/// provider but not here is adopted: its token is replaced, so clients using the old one must log
/// in again.
#[utoipa::path(
    post,
    path = "/v1/accounts",
    operation_id = "create_or_get_account",
    tag = "accounts",
    request_body = CreateAccount,
    responses(
        (status = 200, description = "The account and its token", body = AccountCredentials),
        (status = 400, description = "Not JSON, or an unknown field (`invalid_json`, `unknown_field`)", body = ErrorBody),
        (status = 409, description = "The account's token kept changing concurrently; retry (`conflict`); or it already has another role (`role_conflict`), checked before the provider is called", body = ErrorBody),
        (status = 422, description = "A missing or refused value, e.g. an invalid account (`invalid_field`, `field` names it)", body = ErrorBody),
        (status = 502, description = "The provider refused, with its code and desc (`provider_rejected`)", body = ErrorBody),
        (status = 503, description = "The provider or the database is unreachable (`provider_unavailable`, `unavailable`); `Retry-After` when the provider rate-limits us",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (provider rate limit only)"))),
    )
)]
async fn create_or_get(
    State(state): State<AccountsState>,
    ApiJson(body): ApiJson<CreateAccount>,
) -> Result<Json<AccountCredentials>, AppError> {
    let provider = state.provider.as_ref();
    let accid = Accid::parse(provider, "account", &body.account)?;
    let profile = Profile { name: body.name, icon: body.icon, ..Profile::default() };
    check_profile(provider, "", &profile)?;
    if let Some(wanted) = body.role {
        let role = state.accounts.role_in_slot(&accid, wanted).await?;
        role_is(&accid, role, wanted)?;
    }
    let Ensured { account, created } = state.accounts.ensure(&accid, &profile).await?;
    let role = match body.role {
        Some(wanted) => Some(role_is(&accid, state.accounts.claim_role(&accid, wanted).await?, wanted)?),
        None => account.role(),
    };
    let AccountToken { accid, token, expires_at } = state.accounts.credential(&account);
    Ok(Json(AccountCredentials { accid, token, expires_at, created, role }))
}

/// `Ok(role)` when it is the one asked for, else 409 `role_conflict` (a role never changes).
fn role_is(accid: &Accid, role: Role, wanted: Role) -> Result<Role, AppError> {
    if role == wanted {
        return Ok(role);
    }
    Err(AppError::RoleConflict(format!("account `{accid}` is a {role}; an account's role never changes")))
}

/// An account's profile.
///
/// Never shows the token: a token is handed out only by create-or-get and refresh.
#[utoipa::path(
    get,
    path = "/v1/accounts/{accid}",
    operation_id = "get_account",
    tag = "accounts",
    params(AccidPath),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 400, description = "Malformed path (`invalid_request`)", body = ErrorBody),
        (status = 404, description = "The bridge did not register this account (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a valid accid (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AccountsState>,
    ApiPath(AccidPath { accid }): ApiPath<AccidPath>,
) -> Result<Json<AccountView>, AppError> {
    let accid = Accid::parse(state.provider.as_ref(), "accid", &accid)?;
    Ok(Json(state.accounts.registered(&accid).await?.into()))
}

/// A fresh token for an account; the old one stops working.
#[utoipa::path(
    post,
    path = "/v1/accounts/{accid}/token",
    operation_id = "refresh_account_token",
    tag = "accounts",
    params(AccidPath),
    responses(
        (status = 200, description = "The new token", body = AccountToken),
        (status = 400, description = "Malformed path (`invalid_request`)", body = ErrorBody),
        (status = 404, description = "The bridge did not register this account (`not_found`)", body = ErrorBody),
        (status = 409, description = "The account's token kept changing concurrently; retry (`conflict`)", body = ErrorBody),
        (status = 422, description = "Not a valid accid (`invalid_field`)", body = ErrorBody),
        (status = 502, description = "The provider refused, with its code and desc (`provider_rejected`); the old token stays valid", body = ErrorBody),
        (status = 503, description = "The provider or the database is unreachable (`provider_unavailable`, `unavailable`); the old token stays valid",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (provider rate limit only)"))),
    )
)]
async fn refresh_token(
    State(state): State<AccountsState>,
    ApiPath(AccidPath { accid }): ApiPath<AccidPath>,
) -> Result<Json<AccountToken>, AppError> {
    let accid = Accid::parse(state.provider.as_ref(), "accid", &accid)?;
    let account = state.accounts.refresh_token(&accid).await?;
    Ok(Json(state.accounts.credential(&account)))
}

/// Change profile fields; absent fields stay as they are.
#[utoipa::path(
    patch,
    path = "/v1/accounts/{accid}",
    operation_id = "update_account",
    tag = "accounts",
    params(AccidPath),
    request_body = UpdateAccount,
    responses(
        (status = 200, description = "The updated account", body = AccountView),
        (status = 400, description = "Not JSON, an unknown field or a malformed path (`invalid_json`, `unknown_field`, `invalid_request`)", body = ErrorBody),
        (status = 404, description = "The bridge did not register this account (`not_found`)", body = ErrorBody),
        (status = 422, description = "No field given, or a refused value (`invalid_field`, `field` names it)", body = ErrorBody),
        (status = 502, description = "The provider refused, with its code and desc (`provider_rejected`)", body = ErrorBody),
        (status = 503, description = "The provider or the database is unreachable (`provider_unavailable`, `unavailable`)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (provider rate limit only)"))),
    )
)]
async fn update(
    State(state): State<AccountsState>,
    ApiPath(AccidPath { accid }): ApiPath<AccidPath>,
    ApiJson(body): ApiJson<UpdateAccount>,
) -> Result<Json<AccountView>, AppError> {
    let provider = state.provider.as_ref();
    let accid = Accid::parse(provider, "accid", &accid)?;
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

/// Block an account: it cannot log in, and its sessions are kicked.
#[utoipa::path(
    post,
    path = "/v1/accounts/{accid}/block",
    operation_id = "block_account",
    tag = "accounts",
    params(AccidPath),
    responses(
        (status = 200, description = "The account, now blocked", body = AccountView),
        (status = 400, description = "Malformed path (`invalid_request`)", body = ErrorBody),
        (status = 404, description = "The bridge did not register this account (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a valid accid (`invalid_field`)", body = ErrorBody),
        (status = 501, description = "The provider cannot block accounts (Tencent; `not_supported_by_provider`)", body = ErrorBody),
        (status = 502, description = "The provider refused, with its code and desc (`provider_rejected`)", body = ErrorBody),
        (status = 503, description = "The provider or the database is unreachable (`provider_unavailable`, `unavailable`)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (provider rate limit only)"))),
    )
)]
async fn block(
    State(state): State<AccountsState>,
    ApiPath(AccidPath { accid }): ApiPath<AccidPath>,
) -> Result<Json<AccountView>, AppError> {
    set_blocked(state, accid, true).await
}

/// Unblock an account.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{accid}/block",
    operation_id = "unblock_account",
    tag = "accounts",
    params(AccidPath),
    responses(
        (status = 200, description = "The account, no longer blocked", body = AccountView),
        (status = 400, description = "Malformed path (`invalid_request`)", body = ErrorBody),
        (status = 404, description = "The bridge did not register this account (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a valid accid (`invalid_field`)", body = ErrorBody),
        (status = 501, description = "The provider cannot block accounts (Tencent; `not_supported_by_provider`)", body = ErrorBody),
        (status = 502, description = "The provider refused, with its code and desc (`provider_rejected`)", body = ErrorBody),
        (status = 503, description = "The provider or the database is unreachable (`provider_unavailable`, `unavailable`)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (provider rate limit only)"))),
    )
)]
async fn unblock(
    State(state): State<AccountsState>,
    ApiPath(AccidPath { accid }): ApiPath<AccidPath>,
) -> Result<Json<AccountView>, AppError> {
    set_blocked(state, accid, false).await
}

async fn set_blocked(state: AccountsState, accid: String, blocked: bool) -> Result<Json<AccountView>, AppError> {
    let accid = Accid::parse(state.provider.as_ref(), "accid", &accid)?;
    Ok(Json(state.accounts.set_blocked(&accid, blocked).await?.into()))
}
