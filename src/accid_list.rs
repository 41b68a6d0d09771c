//! A list of accids from a request (`peers`, `accids`, each order's `peer`), validated once for every
//! route that takes one: each entry parsed by the provider's accid rule, de-duplicated in linear time
//! (hashed), and the distinct count bounded as it grows, so a long list costs no more than reading it.

use std::collections::{HashMap, HashSet};

use imbridge_provider::ImProvider;

use crate::error::AppError;

/// Where an entry sits in the request: `peers[3]`, `orders[2].peer`.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub list: &'static str,
    pub index: usize,
    /// After the index, e.g. `.peer`; empty for a list of accids.
    pub member: &'static str,
}

impl Field {
    pub fn at(list: &'static str, index: usize) -> Self {
        Self { list, index, member: "" }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]{}", self.list, self.index, self.member)
    }
}

/// The accids of a request: each spelling it used, and the distinct canonical accids.
#[derive(Debug, Default)]
pub struct AccidList<'a> {
    /// Each spelling in the request → its canonical accid.
    pub canonical: HashMap<&'a str, String>,
    /// The distinct canonical accids, in first-seen order.
    pub distinct: Vec<String>,
}

impl<'a> AccidList<'a> {
    /// Parse `entries`, each with where it sits in the request. A bad entry is a 422 naming its
    /// field; more than `max_distinct` distinct accids a 422 naming `limit_field`.
    pub fn parse(
        provider: &dyn ImProvider,
        entries: impl IntoIterator<Item = (&'a str, Field)>,
        max_distinct: usize,
        limit_field: &str,
    ) -> Result<Self, AppError> {
        let mut list = AccidList::default();
        let mut seen: HashSet<String> = HashSet::new();
        for (raw, field) in entries {
            if list.canonical.contains_key(raw) {
                continue;
            }
            let accid = provider.normalize_account(raw).map_err(|e| AppError::invalid(field.to_string(), e.reason))?;
            if seen.insert(accid.clone()) {
                list.distinct.push(accid.clone());
                if list.distinct.len() > max_distinct {
                    return Err(AppError::invalid(limit_field, format!("at most {max_distinct} distinct accids")));
                }
            }
            list.canonical.insert(raw, accid);
        }
        Ok(list)
    }

    /// The canonical accid of a spelling this list was parsed from.
    pub fn of(&self, raw: &str) -> &str {
        &self.canonical[raw]
    }
}
