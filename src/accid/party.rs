//! One side of a chat as a request names it (`buyer`, `seller`): its accid and profile, validated
//! together, with errors named under the side.

use imbridge_provider::{ImProvider, Profile};
use serde::Deserialize;
use utoipa::ToSchema;

use super::Accid;
use crate::error::AppError;

/// One side of a chat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// The shop's username; lowercased into the accid.
    pub account: String,
    /// Used when the account is registered by this call.
    pub name: Option<String>,
    pub icon: Option<String>,
}

/// A party's canonical accid and profile, validated, with errors named under `side`.
pub fn validate_party(provider: &dyn ImProvider, side: &str, party: Party) -> Result<(Accid, Profile), AppError> {
    let accid = Accid::parse(provider, format_args!("{side}.account"), &party.account)?;
    let profile = Profile { name: party.name, icon: party.icon, ..Profile::default() };
    check_profile(provider, side, &profile)?;
    Ok((accid, profile))
}

/// Validate `profile` against the provider's limits; a 422 names the field under `prefix`
/// (e.g. `buyer.name`).
pub fn check_profile(provider: &dyn ImProvider, prefix: &str, profile: &Profile) -> Result<(), AppError> {
    provider.validate_profile(profile).map_err(|invalid| {
        let field = if prefix.is_empty() { invalid.field } else { format!("{prefix}.{}", invalid.field) };
        AppError::invalid(field, invalid.reason)
    })
}
