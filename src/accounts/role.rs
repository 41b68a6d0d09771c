//! Chat roles and the chat policy.
//!
//! Every account has at most one role, fixed once set: given explicitly (`POST /v1/accounts` with
//! `role`), or taken from the slot the account is first used in (`buyer`/`seller` of
//! `POST /v1/chats`, a shop's `owner` (seller) or `agents` (agent)). The policy (config
//! `chat_policy`) lists the role pairs that may be made friends; every route that befriends two
//! accounts checks it before any provider call.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Buyer,
    /// A shop owner.
    Seller,
    /// A shop's customer-service agent.
    Agent,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Buyer, Role::Seller, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Agent => "agent",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which role pairs may be friends (unordered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPolicy {
    allowed: BTreeSet<(Role, Role)>,
}

/// The default: buyers talk to sellers and agents, sellers to their agents.
pub const DEFAULT_CHAT_POLICY: &str = "buyer-seller,buyer-agent,seller-agent";

impl ChatPolicy {
    /// `"buyer-seller,buyer-agent"`: comma-separated pairs of roles joined by `-`, in any order.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut allowed = BTreeSet::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let roles: Vec<Option<Role>> = pair.split('-').map(|r| Role::parse(r.trim())).collect();
            match roles.as_slice() {
                [Some(a), Some(b)] => {
                    allowed.insert(ordered(*a, *b));
                }
                _ => {
                    return Err(format!(
                        "`{pair}` is not a pair of roles like buyer-seller (roles: buyer, seller, agent)"
                    ))
                }
            }
        }
        Ok(Self { allowed })
    }

    pub fn allows(&self, a: Role, b: Role) -> bool {
        self.allowed.contains(&ordered(a, b))
    }

    /// `Ok` when `a` and `b` may be friends, otherwise 403 `policy_denied` naming both roles.
    pub fn check(&self, a: Role, b: Role) -> Result<(), AppError> {
        if self.allows(a, b) {
            return Ok(());
        }
        Err(AppError::PolicyDenied(format!(
            "chat_policy does not allow a chat between roles {a} and {b} (allowed: {})",
            self.describe()
        )))
    }

    /// The allowed pairs as the configuration spells them.
    pub fn describe(&self) -> String {
        let pairs: Vec<String> = self.allowed.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        if pairs.is_empty() {
            "none".into()
        } else {
            pairs.join(",")
        }
    }
}

impl Default for ChatPolicy {
    fn default() -> Self {
        Self::parse(DEFAULT_CHAT_POLICY).expect("the default chat policy parses")
    }
}

fn ordered(a: Role, b: Role) -> (Role, Role) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_allows_the_three_commercial_pairs_only() {
        let policy = ChatPolicy::default();
        assert!(policy.allows(Role::Buyer, Role::Seller));
        assert!(policy.allows(Role::Seller, Role::Buyer));
        assert!(policy.allows(Role::Agent, Role::Buyer));
        assert!(policy.allows(Role::Seller, Role::Agent));
        assert!(!policy.allows(Role::Buyer, Role::Buyer));
        assert!(!policy.allows(Role::Agent, Role::Agent));
        assert!(!policy.allows(Role::Seller, Role::Seller));
    }

    #[test]
    fn pairs_parse_in_any_order_and_bad_ones_are_named() {
        let policy = ChatPolicy::parse(" seller-buyer , buyer-buyer").unwrap();
        assert!(policy.allows(Role::Buyer, Role::Buyer));
        assert!(policy.allows(Role::Buyer, Role::Seller));
        assert!(!policy.allows(Role::Buyer, Role::Agent));
        assert_eq!(policy.describe(), "buyer-buyer,buyer-seller");
        let err = ChatPolicy::parse("buyer-seller,buyer-admin").unwrap_err();
        assert!(err.contains("buyer-admin"), "{err}");
        assert!(ChatPolicy::parse("buyer").is_err());
        assert_eq!(ChatPolicy::parse("").unwrap().describe(), "none");
    }
}
