//! The routing rule, without storage: which eligible agent takes a buyer.
//!
//! 1. **sticky**: the agent of the buyer's recent assignment, if eligible (even when others are
//!    less loaded: the buyer continues with the person who knows the case);
//! 2. **least loaded**: fewest open assignments; ties go to the agent whose last assignment is
//!    oldest (never assigned counts as oldest), then by accid so the choice is deterministic;
//! 3. otherwise the shop's fallback (decided by the caller).

use serde::Serialize;
use utoipa::ToSchema;

/// An eligible agent with a free slot, as read inside the routing transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub accid: String,
    pub open: i64,
    pub last_assigned_at_ms: Option<i64>,
}

/// Why an agent got the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Sticky,
    LeastLoaded,
    Fallback,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Sticky => "sticky",
            Reason::LeastLoaded => "least_loaded",
            Reason::Fallback => "fallback",
        }
    }

    pub fn parse(text: &str) -> Reason {
        match text {
            "sticky" => Reason::Sticky,
            "least_loaded" => Reason::LeastLoaded,
            _ => Reason::Fallback,
        }
    }
}

/// The agent for the buyer among `candidates` (all eligible, all with a free slot), or `None`.
pub fn choose<'a>(candidates: &'a [Candidate], sticky: Option<&str>) -> Option<(&'a Candidate, Reason)> {
    if let Some(found) = sticky.and_then(|s| candidates.iter().find(|c| c.accid == s)) {
        return Some((found, Reason::Sticky));
    }
    candidates
        .iter()
        .min_by(|a, b| {
            (a.open, a.last_assigned_at_ms.unwrap_or(i64::MIN), &a.accid).cmp(&(
                b.open,
                b.last_assigned_at_ms.unwrap_or(i64::MIN),
                &b.accid,
            ))
        })
        .map(|c| (c, Reason::LeastLoaded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(accid: &str, open: i64, last: Option<i64>) -> Candidate {
        Candidate { accid: accid.into(), open, last_assigned_at_ms: last }
    }

    #[test]
    fn sticky_beats_least_loaded() {
        let agents = [agent("a1", 3, Some(5)), agent("a2", 0, None)];
        let (chosen, reason) = choose(&agents, Some("a1")).unwrap();
        assert_eq!((chosen.accid.as_str(), reason), ("a1", Reason::Sticky));
    }

    #[test]
    fn an_ineligible_sticky_agent_falls_through_to_least_loaded() {
        let agents = [agent("a1", 3, Some(5)), agent("a2", 1, Some(9))];
        let (chosen, reason) = choose(&agents, Some("gone")).unwrap();
        assert_eq!((chosen.accid.as_str(), reason), ("a2", Reason::LeastLoaded));
    }

    #[test]
    fn ties_go_to_the_longest_waiting_agent_never_assigned_first() {
        let agents = [agent("a1", 1, Some(20)), agent("a2", 1, Some(10)), agent("a3", 2, None)];
        assert_eq!(choose(&agents, None).unwrap().0.accid, "a2");
        let agents = [agent("a1", 1, Some(20)), agent("a2", 1, None)];
        assert_eq!(choose(&agents, None).unwrap().0.accid, "a2");
        let agents = [agent("b", 0, None), agent("a", 0, None)];
        assert_eq!(choose(&agents, None).unwrap().0.accid, "a");
    }

    #[test]
    fn nobody_eligible_is_none() {
        assert!(choose(&[], Some("a1")).is_none());
    }
}
