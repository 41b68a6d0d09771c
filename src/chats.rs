//! Buyer–seller chats: the core use case. The front end sends the buyer's account and nickname and
//! the seller's account; the backend calls `POST /v1/chats` and gets the buyer's token, with both
//! accounts registered and befriended, so the chat can open.
//!
//! - `POST   /v1/chats`                        idempotent: ensure both accounts, befriend directly
//! - `DELETE /v1/friendships/{accid}/{faccid}`  end the friendship (both directions at NetEase)
//!
//! The friendship is requested from the provider on every call rather than remembered here: the
//! provider treats a repeated direct add as done, and a friendship ended elsewhere (by a client) is
//! restored instead of being trusted from a stale local copy.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::{delete, post};
use axum::{Json, Router};
use imbridge_provider::ImProvider;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::accid::{validate_party, Accid, Party};
use crate::accounts::{new_request_id, AccountService, AccountToken, ChatPolicy, Role};
use crate::error::{ApiJson, ApiPath, AppError, ErrorBody};

/// What the chat routes need (derived from the app's state with [`FromRef`]).
#[derive(Clone)]
pub struct ChatsState {
    pub provider: Arc<dyn ImProvider>,
    pub accounts: AccountService,
    pub chat_policy: ChatPolicy,
}

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ChatsState: FromRef<S>,
{
    Router::new().route("/chats", post(open_chat)).route("/friendships/{accid}/{faccid}", delete(unfriend))
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(open_chat, unfriend))]
pub struct ApiDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"buyer": {"account": "Buyer_01", "name": "Alice"}, "seller": {"account": "shop_1", "name": "Shop One"}}))]
pub struct OpenChat {
    pub buyer: Party,
    pub seller: Party,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SellerRef {
    pub accid: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"buyer": {"accid": "buyer_01", "token": "6f1e0c1d6c0a4b8e9d2f3a4b5c6d7e8f", "expires_at": null}, "seller": {"accid": "shop_1"}, "friends": true}))]
pub struct ChatOpened {
    /// The buyer's accid and the token their chat client logs in with.
    pub buyer: AccountToken,
    pub seller: SellerRef,
    /// `false` only with a provider that has no server-side friendships.
    pub friends: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accid": "buyer_01", "faccid": "shop_1", "friends": false}))]
pub struct FriendshipEnded {
    pub accid: String,
    pub faccid: String,
    pub friends: bool,
}

/// `{accid}/{faccid}` of `DELETE /v1/friendships/{accid}/{faccid}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FriendshipPath {
    /// One account of the friendship.
    #[param(example = "buyer_01")]
    pub accid: String,
    /// The other account.
    #[param(example = "shop_1")]
    pub faccid: String,
}

/// Open a buyer–seller chat: the core use case.
///
/// Ensures both accounts are registered (create-or-get) and makes them friends at the provider,
/// then returns the buyer's token. Idempotent: the friendship is requested on every call, so one
/// ended elsewhere is restored.
#[utoipa::path(
    post,
    path = "/v1/chats",
    operation_id = "open_chat",
    tag = "chats",
    request_body = OpenChat,
    responses(
        (status = 200, description = "Both accounts exist and are friends; the buyer's token", body = ChatOpened),
        (status = 400, description = "Not JSON, or an unknown field (`invalid_json`, `unknown_field`)", body = ErrorBody),
        (status = 403, description = "`chat_policy` does not allow a chat between the two accounts' roles (`policy_denied`, naming both); nothing was called or stored", body = ErrorBody),
        (status = 409, description = "An account's token kept changing concurrently; retry (`conflict`)", body = ErrorBody),
        (status = 422, description = "A missing or refused value, e.g. `buyer.account`, or the same account on both sides (`invalid_field`)", body = ErrorBody),
        (status = 502, description = "The provider refused, with its code and desc (`provider_rejected`)", body = ErrorBody),
        (status = 503, description = "The provider or the database is unreachable (`provider_unavailable`, `unavailable`)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (provider rate limit only)"))),
    )
)]
async fn open_chat(
    State(state): State<ChatsState>,
    ApiJson(body): ApiJson<OpenChat>,
) -> Result<Json<ChatOpened>, AppError> {
    let provider = state.provider.as_ref();
    let (buyer, buyer_profile) = validate_party(provider, "buyer", body.buyer)?;
    let (seller, seller_profile) = validate_party(provider, "seller", body.seller)?;
    if buyer == seller {
        return Err(AppError::invalid("seller.account", "must differ from buyer.account"));
    }
    // The policy is checked on the roles the accounts have (or will take in these slots) before
    // any provider call, and again after the roles are claimed in case one was set meanwhile.
    let policy = &state.chat_policy;
    let accounts = &state.accounts;
    let roles =
        tokio::try_join!(accounts.role_in_slot(&buyer, Role::Buyer), accounts.role_in_slot(&seller, Role::Seller))?;
    policy.check(roles.0, roles.1)?;
    let (buyer_account, _) =
        tokio::try_join!(accounts.ensure(&buyer, &buyer_profile), accounts.ensure(&seller, &seller_profile))?;
    let roles = tokio::try_join!(accounts.claim_role(&buyer, Role::Buyer), accounts.claim_role(&seller, Role::Seller))?;
    policy.check(roles.0, roles.1)?;
    let provider = &state.provider;
    let friends = provider.supports_friendship();
    if friends {
        provider.add_friend(&buyer, &seller, &new_request_id()).await?;
    }
    Ok(Json(ChatOpened {
        buyer: accounts.credential(&buyer_account.account),
        seller: SellerRef { accid: seller.into_string() },
        friends,
    }))
}

/// End a friendship (both directions at NetEase).
#[utoipa::path(
    delete,
    path = "/v1/friendships/{accid}/{faccid}",
    operation_id = "end_friendship",
    tag = "chats",
    params(FriendshipPath),
    responses(
        (status = 200, description = "The two accounts are no longer friends", body = FriendshipEnded),
        (status = 400, description = "Malformed path (`invalid_request`)", body = ErrorBody),
        (status = 404, description = "An account imbridge has not registered (`not_found`); the provider is not called", body = ErrorBody),
        (status = 422, description = "Not a valid accid, or the same account twice (`invalid_field`, `field` is `accid` or `faccid`)", body = ErrorBody),
        (status = 501, description = "The provider has no server-side friendships (`not_supported_by_provider`; neither NetEase nor Tencent)", body = ErrorBody),
        (status = 502, description = "The provider refused, with its code and desc (`provider_rejected`)", body = ErrorBody),
        (status = 503, description = "The provider is unreachable (`provider_unavailable`)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait (provider rate limit only)"))),
    )
)]
async fn unfriend(
    State(state): State<ChatsState>,
    ApiPath(FriendshipPath { accid, faccid }): ApiPath<FriendshipPath>,
) -> Result<Json<FriendshipEnded>, AppError> {
    let provider = &state.provider;
    let accid = Accid::parse(provider.as_ref(), "accid", &accid)?;
    let faccid = Accid::parse(provider.as_ref(), "faccid", &faccid)?;
    if accid == faccid {
        return Err(AppError::invalid("faccid", "an account cannot be its own friend"));
    }
    if !provider.supports_friendship() {
        return Err(AppError::ProviderUnsupported("friendship"));
    }
    // Only accounts this bridge registered: anything else would be a provider round trip to learn
    // what the database already says.
    tokio::try_join!(state.accounts.registered(&accid), state.accounts.registered(&faccid))?;
    provider.delete_friend(&accid, &faccid, &new_request_id()).await?;
    Ok(Json(FriendshipEnded { accid: accid.into_string(), faccid: faccid.into_string(), friends: false }))
}
