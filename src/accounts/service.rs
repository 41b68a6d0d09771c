//! Account operations: create-or-get, token refresh, profile, block.
//!
//! # How the stored token and the provider's token stay the same
//!
//! The `accounts` row is the source of truth; the provider is *converged* to it. Every change of an
//! account's token follows one order:
//!
//! 1. write the token to the database first (a reservation for a new account: insert-if-absent on
//!    the unique `accid`, so of several racing instances exactly one token wins; a refresh: a
//!    compare-and-set on the old token), marked `token_synced = false`;
//! 2. push the stored token to the provider with [`ImProvider::ensure_account`] (NetEase: create,
//!    or on `already register` set the token with `user/update`);
//! 3. mark the row synced *only if it still holds the token just pushed* (compare-and-set). If it
//!    does not, another instance changed the token meanwhile and our push may have overwritten
//!    theirs at the provider: push again, now the stored one.
//!
//! Why that converges: take the last push to reach the provider. Its sender then found the database
//! holding that very token (else it would have pushed again), and any later change of the row
//! would have been followed by another push — so there is none, and the provider ends up accepting
//! exactly the stored token. A process that dies between steps leaves `token_synced = false` (or a
//! reservation), and the next call for the account pushes the stored token again, so a crash heals
//! on the next request. What remains is narrower: an instance dying right after pushing while
//! *another* instance changes the same account's token can leave the provider with the older
//! token; the next refresh repairs it.
//!
//! Within one process, requests for one account also take turns on a per-accid lock, so two hundred
//! concurrent creates of one new account make a single provider call and all return one token.
//!
//! A provider that signs credentials locally (Tencent's UserSig: [`ImProvider::stores_credentials`]
//! is `false`) keeps nothing secret here: the row's token column is empty, the protocol above runs
//! with that constant value (so reservations and the synced mark work the same), and every
//! create-or-get and refresh hands out a freshly signed credential with its expiry.
//!
//! An account that exists at the provider but not here (created by another system) answers
//! `already register`; step 2 then *adopts* it by setting our token, which ends sessions logged in
//! with its previous token (see README).

use std::sync::Arc;

use imbridge_provider::{Credential, EnsureOutcome, ImProvider, Profile};

use super::single_flight::KeyedLocks;
use super::store::{AccountRow, AccountStore, Marked};
use super::{AccountToken, Role};
use crate::error::AppError;

/// Pushes per request before giving up on an account whose token keeps changing underneath us.
const CONVERGE_ROUNDS: usize = 4;

/// The result of create-or-get.
#[derive(Debug, Clone)]
pub struct Ensured {
    pub account: AccountRow,
    /// This call registered the account (it did not exist for the bridge before).
    pub created: bool,
}

#[derive(Clone)]
pub struct AccountService {
    store: AccountStore,
    provider: Arc<dyn ImProvider>,
    locks: KeyedLocks,
}

impl AccountService {
    pub fn new(store: AccountStore, provider: Arc<dyn ImProvider>) -> Self {
        Self { store, provider, locks: KeyedLocks::default() }
    }

    pub fn provider(&self) -> &Arc<dyn ImProvider> {
        &self.provider
    }

    pub fn store(&self) -> &AccountStore {
        &self.store
    }

    /// Create-or-get. `accid` is canonical and `profile` validated by the caller; `profile` is used
    /// only when the account is registered by this call.
    pub async fn ensure(&self, accid: &str, profile: &Profile) -> Result<Ensured, AppError> {
        // The common case, an account that is ready, needs neither the lock nor the provider.
        if let Some(account) = self.store.get(accid).await?.filter(AccountRow::is_ready) {
            return Ok(Ensured { account, created: false });
        }
        let _turn = self.locks.lock(accid).await;
        self.converge(accid, profile).await
    }

    /// The credential the account's chat client logs in with: the stored token, or (for a provider
    /// that signs credentials locally) a fresh one.
    pub fn credential(&self, row: &AccountRow) -> AccountToken {
        let credential = if self.provider.stores_credentials() {
            Credential { token: row.token.clone(), expires_at: None }
        } else {
            self.provider.new_credential(&row.accid)
        };
        AccountToken::new(&row.accid, credential)
    }

    /// The token to reserve a new account with: nothing for a provider that signs locally.
    fn reservation_token(&self, accid: &str) -> String {
        if self.provider.stores_credentials() {
            self.provider.new_credential(accid).token
        } else {
            String::new()
        }
    }

    /// A new token: stored first, then pushed to the provider, which stops accepting the old one.
    /// With a provider that signs credentials locally, nothing is stored: the caller hands out a
    /// fresh credential ([`AccountService::credential`]).
    pub async fn refresh_token(&self, accid: &str) -> Result<AccountRow, AppError> {
        if !self.provider.stores_credentials() {
            return self.registered(accid).await;
        }
        let _turn = self.locks.lock(accid).await;
        let current = self.registered(accid).await?;
        let fresh = self.provider.new_credential(accid);
        // If this compare-and-set loses, another instance has just changed the token: that one is
        // as fresh as ours, and converging below hands it out.
        let replaced = self.store.replace_token(accid, &current.token, &fresh.token).await?;
        match self.converge(accid, &Profile::default()).await {
            Ok(ensured) => Ok(ensured.account),
            Err(err) => {
                if replaced {
                    // Keep the token the caller still has; it is pushed again (harmlessly) on the
                    // next call, which also covers a provider that did apply ours before failing.
                    if let Err(db) = self.store.replace_token(accid, &fresh.token, &current.token).await {
                        tracing::warn!(accid, error = %db, "could not restore the previous token after a failed refresh");
                    }
                }
                Err(err)
            }
        }
    }

    /// Profile change at the provider, then here (`name`/`icon` are kept in the table).
    pub async fn update_profile(&self, accid: &str, profile: &Profile) -> Result<AccountRow, AppError> {
        let _turn = self.locks.lock(accid).await;
        self.registered(accid).await?;
        self.provider.update_profile(accid, profile, &new_request_id()).await?;
        self.store.update_profile(accid, profile.name.as_deref(), profile.icon.as_deref()).await?;
        self.registered(accid).await
    }

    pub async fn set_blocked(&self, accid: &str, blocked: bool) -> Result<AccountRow, AppError> {
        let _turn = self.locks.lock(accid).await;
        self.registered(accid).await?;
        self.provider.set_blocked(accid, blocked, &new_request_id()).await?;
        self.store.set_blocked(accid, blocked).await?;
        self.registered(accid).await
    }

    /// The role `accid` has, or `slot` when it has none yet (or does not exist): the role it will
    /// get from [`AccountService::claim_role`] in that slot. Nothing is written.
    pub async fn role_in_slot(&self, accid: &str, slot: Role) -> Result<Role, AppError> {
        Ok(self.store.get(accid).await?.and_then(|row| row.role()).unwrap_or(slot))
    }

    /// Give the (existing) account `role` unless it has one; returns the role it has now.
    pub async fn claim_role(&self, accid: &str, role: Role) -> Result<Role, AppError> {
        let now = self.store.claim_role(accid, role).await?;
        Ok(now.as_deref().and_then(Role::parse).unwrap_or(role))
    }

    /// The registered account, or 404.
    pub async fn registered(&self, accid: &str) -> Result<AccountRow, AppError> {
        self.store
            .get(accid)
            .await?
            .filter(AccountRow::is_registered)
            .ok_or_else(|| AppError::NotFound(format!("no account `{accid}`")))
    }

    /// Make the provider accept the token stored for `accid`, reserving one first when there is no
    /// row. The caller holds the accid's lock. See the module documentation for why this converges.
    async fn converge(&self, accid: &str, profile: &Profile) -> Result<Ensured, AppError> {
        // Set when our push may have overwritten a newer token at the provider: then even a row
        // marked synced must be pushed again.
        let mut pushed_stale = false;
        for _ in 0..CONVERGE_ROUNDS {
            let Some(row) = self.store.get(accid).await? else {
                let token = self.reservation_token(accid);
                let (name, icon) = (profile.name.as_deref(), profile.icon.as_deref());
                // Insert-if-absent; whether ours or a concurrent one won, the next round reads it.
                self.store.reserve(accid, name, icon, &token).await?;
                continue;
            };
            if row.is_ready() && !pushed_stale {
                return Ok(Ensured { account: row, created: false });
            }
            let registering = !row.is_registered();
            let outcome = match self.push(&row, profile).await {
                Ok(outcome) => outcome,
                Err(err) => {
                    if registering {
                        // Nothing is kept for an account the provider did not take. Safe even if
                        // another instance is pushing this reservation: its compare-and-set fails
                        // and it starts over with a fresh one.
                        if let Err(db) = self.store.release(accid, &row.token).await {
                            tracing::warn!(accid, error = %db, "could not release a reservation");
                        }
                    }
                    return Err(err);
                }
            };
            let (name, icon) =
                if registering { (profile.name.as_deref(), profile.icon.as_deref()) } else { (None, None) };
            let marked = self.store.mark_synced(accid, &row.token, name, icon).await?;
            if marked != Marked::TokenChanged {
                let created = marked == Marked::Registered;
                if created && outcome == EnsureOutcome::Recovered {
                    tracing::warn!(
                        accid,
                        "adopted an account that existed at the provider but not here; its token was \
                         replaced, so sessions logged in with the old one must log in again"
                    );
                }
                let account = self.registered(accid).await?;
                return Ok(Ensured { account, created });
            }
            pushed_stale = true;
            tracing::info!(accid, "token changed while pushing it to the provider; pushing the stored one");
        }
        Err(AppError::Conflict(format!("account `{accid}` is being changed concurrently; retry")))
    }

    /// Step 2: make the provider accept `row.token` (creating the account when needed).
    async fn push(&self, row: &AccountRow, profile: &Profile) -> Result<EnsureOutcome, AppError> {
        let profile = Profile {
            name: profile.name.clone().or_else(|| row.name.clone()),
            icon: profile.icon.clone().or_else(|| row.icon.clone()),
            ..profile.clone()
        };
        let credential = Credential { token: row.token.clone(), expires_at: None };
        Ok(self.provider.ensure_account(&row.accid, &profile, &credential, &new_request_id()).await?)
    }
}

/// A provider request id for one logical operation (the provider client reuses it on retries).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
