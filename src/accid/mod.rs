//! Accids, parsed once at the edge of every route and passed inward as [`Accid`]: the provider
//! decides what an accid is (NetEase and Tencent lowercase ASCII), and nothing downstream lowercases
//! or validates again. The validation every feature shares lives here, so no feature borrows
//! another's: one accid, a conversation's pair, a list of accids ([`AccidList`]), a chat party ([`Party`]).

mod list;
mod party;

use std::fmt::Display;

use imbridge_provider::{ImProvider, InvalidField};
use serde::Serialize;

pub use list::{AccidList, Field};
pub use party::{check_profile, validate_party, Party};

use crate::error::AppError;

/// An account id in the provider's canonical form; only [`Accid::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Accid(String);

impl Accid {
    /// The provider's canonical accid for `raw`, or why not, naming `field` (e.g. `buyer.account`;
    /// written out only for a refusal, so a long list of entries costs no names).
    pub fn parse(provider: &dyn ImProvider, field: impl Display, raw: &str) -> Result<Self, InvalidField> {
        provider
            .normalize_account(raw)
            .map(Self)
            .map_err(|invalid| InvalidField::new(field.to_string(), invalid.reason))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Display for Accid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Accid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Accid {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Accid {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for Accid {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Accid> for String {
    fn eq(&self, other: &Accid) -> bool {
        *self == other.0
    }
}

/// The two accids of a conversation (`accid` and `peer`), each required, parsed and distinct; a 422
/// names `accid_field` or `peer_field`, checked in that order.
pub fn pair(
    provider: &dyn ImProvider,
    (accid_field, accid): (&str, Option<&str>),
    (peer_field, peer): (&str, Option<&str>),
) -> Result<(Accid, Accid), AppError> {
    let accid = Accid::parse(provider, accid_field, accid.ok_or_else(|| AppError::invalid(accid_field, "required"))?)?;
    let peer = Accid::parse(provider, peer_field, peer.ok_or_else(|| AppError::invalid(peer_field, "required"))?)?;
    if accid == peer {
        return Err(AppError::invalid(peer_field, format!("must differ from {accid_field}")));
    }
    Ok((accid, peer))
}
