//! A list of accids from a request (`peers`, `accids`, each order's `peer`): each entry parsed by
//! the provider's accid rule, de-duplicated in linear time (hashed), and the distinct count bounded
//! as it grows, so a long list costs no more than reading it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use imbridge_provider::{ImProvider, InvalidField};

use super::Accid;

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
    /// Each spelling in the request → where its canonical accid is in `distinct`.
    spelled: HashMap<&'a str, usize>,
    /// The distinct canonical accids, in first-seen order.
    pub distinct: Vec<Accid>,
}

impl<'a> AccidList<'a> {
    /// Parse `entries`, each with where it sits in the request. A bad entry is refused naming its
    /// field; more than `max_distinct` distinct accids naming `limit_field`.
    pub fn parse(
        provider: &dyn ImProvider,
        entries: impl IntoIterator<Item = (&'a str, Field)>,
        max_distinct: usize,
        limit_field: &str,
    ) -> Result<Self, InvalidField> {
        let mut list = AccidList::default();
        let mut seen: HashMap<Accid, usize> = HashMap::new();
        for (raw, field) in entries {
            let Entry::Vacant(spelling) = list.spelled.entry(raw) else {
                continue;
            };
            let accid = Accid::parse(provider, field, raw)?;
            let at = match seen.entry(accid) {
                Entry::Occupied(known) => *known.get(),
                Entry::Vacant(new) => {
                    list.distinct.push(new.key().clone());
                    if list.distinct.len() > max_distinct {
                        return Err(InvalidField::new(limit_field, format!("at most {max_distinct} distinct accids")));
                    }
                    *new.insert(list.distinct.len() - 1)
                }
            };
            spelling.insert(at);
        }
        Ok(list)
    }

    /// The canonical accid of a spelling this list was parsed from.
    pub fn of(&self, raw: &str) -> &Accid {
        &self.distinct[self.spelled[raw]]
    }

    /// The distinct accids as the stores take them.
    pub fn distinct_strings(&self) -> Vec<String> {
        self.distinct.iter().map(|accid| accid.as_str().to_owned()).collect()
    }
}
