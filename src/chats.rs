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

use axum::extract::State;
use axum::routing::{delete, post};
use axum::{Json, Router};
use imbridge_provider::{FriendMode, Profile};
use serde::{Deserialize, Serialize};

use crate::accounts::{canonical_accid, check_profile, new_request_id, AccountToken};
use crate::app::AppState;
use crate::error::{ApiJson, ApiPath, AppError};

pub fn router() -> Router<AppState> {
    Router::new().route("/chats", post(open_chat)).route("/friendships/{accid}/{faccid}", delete(unfriend))
}

/// One side of a chat.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub account: String,
    /// Used when the account is registered by this call.
    pub name: Option<String>,
    pub icon: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenChat {
    pub buyer: Party,
    pub seller: Party,
}

#[derive(Debug, Serialize)]
pub struct SellerRef {
    pub accid: String,
}

#[derive(Debug, Serialize)]
pub struct ChatOpened {
    pub buyer: AccountToken,
    pub seller: SellerRef,
    /// `false` only with a provider that has no server-side friendships.
    pub friends: bool,
}

#[derive(Debug, Serialize)]
pub struct FriendshipEnded {
    pub accid: String,
    pub faccid: String,
    pub friends: bool,
}

/// A party's canonical accid and profile, validated, with errors named under `side`.
fn validated(state: &AppState, side: &str, party: Party) -> Result<(String, Profile), AppError> {
    let provider = state.provider.as_ref();
    let accid = canonical_accid(provider, &format!("{side}.account"), &party.account)?;
    let profile = Profile { name: party.name, icon: party.icon, ..Profile::default() };
    check_profile(provider, side, &profile)?;
    Ok((accid, profile))
}

async fn open_chat(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<OpenChat>,
) -> Result<Json<ChatOpened>, AppError> {
    let (buyer, buyer_profile) = validated(&state, "buyer", body.buyer)?;
    let (seller, seller_profile) = validated(&state, "seller", body.seller)?;
    if buyer == seller {
        return Err(AppError::invalid("seller.account", "must differ from buyer.account"));
    }
    let (buyer_account, _) = tokio::try_join!(
        state.accounts.ensure(&buyer, &buyer_profile),
        state.accounts.ensure(&seller, &seller_profile),
    )?;
    let provider = &state.provider;
    let friends = provider.supports_friendship();
    if friends {
        provider.add_friend(&buyer, &seller, FriendMode::Direct, &new_request_id()).await?;
    }
    Ok(Json(ChatOpened {
        buyer: AccountToken { accid: buyer_account.account.accid, token: buyer_account.account.token },
        seller: SellerRef { accid: seller },
        friends,
    }))
}

async fn unfriend(
    State(state): State<AppState>,
    ApiPath((accid, faccid)): ApiPath<(String, String)>,
) -> Result<Json<FriendshipEnded>, AppError> {
    let provider = &state.provider;
    let accid = canonical_accid(provider.as_ref(), "accid", &accid)?;
    let faccid = canonical_accid(provider.as_ref(), "faccid", &faccid)?;
    if !provider.supports_friendship() {
        return Err(AppError::ProviderUnsupported("friendship"));
    }
    provider.delete_friend(&accid, &faccid, &new_request_id()).await?;
    Ok(Json(FriendshipEnded { accid, faccid, friends: false }))
}
