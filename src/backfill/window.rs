//! How a backfill walks its range: one history call per window, oldest first, the next window
//! starting where the last one ended. Pure, so the edge cases are tested without a provider.
//!
//! The provider returns at most a page of messages per call and does not page, so a full page may
//! have more behind it: the next window starts at the newest time the page reached. Messages at
//! exactly that millisecond may be split across two pages, so the cursor remembers the keys it
//! already handled there and skips them when they come back. Nothing older than the cursor is ever
//! handled again, and nothing at or after it is skipped unless its key was handled.

use std::collections::BTreeSet;

use imbridge_provider::MessageEvent;

/// Where the next window starts: `at_ms`, minus the messages at `at_ms` already handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub at_ms: i64,
    pub keys: BTreeSet<String>,
}

impl Cursor {
    pub fn start(from_ms: i64) -> Self {
        Self { at_ms: from_ms, keys: BTreeSet::new() }
    }

    /// The window `[begin, end]` to ask for, given the range ends at `to_ms`: from the cursor to
    /// `to_ms`, or to `at_ms + 1` when the cursor reached `to_ms` (the provider refuses an empty
    /// window; what the extra millisecond brings is past the range and left out).
    pub fn window(&self, to_ms: i64) -> (i64, i64) {
        (self.at_ms, to_ms.max(self.at_ms + 1))
    }

    /// Whether `message` was handled by an earlier window.
    fn handled(&self, message: &MessageEvent) -> bool {
        message.sent_at_ms < self.at_ms || (message.sent_at_ms == self.at_ms && self.keys.contains(&message.key))
    }
}

/// What one window's page means.
#[derive(Debug)]
pub struct Step {
    /// The messages to import, each once, oldest first.
    pub fresh: Vec<MessageEvent>,
    /// Where the next window starts; `None` when the range is done.
    pub next: Option<Cursor>,
    /// A whole page of messages shares one millisecond and asking again brought nothing new: any
    /// more at that millisecond cannot be reached by moving the window, and the cursor moved past.
    pub stuck_at: Option<i64>,
}

/// The step after `page` (the answer for `cursor.window(to_ms)`, at most `page_size`).
pub fn step(cursor: &Cursor, to_ms: i64, page: Vec<MessageEvent>, page_size: usize) -> Step {
    let full = page.len() >= page_size;
    let newest = page.iter().map(|m| m.sent_at_ms).max();
    let mut seen = BTreeSet::new();
    let mut keys_at_cursor = cursor.keys.clone();
    let mut keys_at_newest = BTreeSet::new();
    let mut fresh = Vec::new();
    for message in page {
        if Some(message.sent_at_ms) == newest {
            keys_at_newest.insert(message.key.clone());
        }
        if message.sent_at_ms == cursor.at_ms {
            keys_at_cursor.insert(message.key.clone());
        }
        if cursor.handled(&message) || message.sent_at_ms > to_ms || !seen.insert(message.key.clone()) {
            continue;
        }
        fresh.push(message);
    }
    fresh.sort_by_key(|m| m.sent_at_ms);
    if !full {
        return Step { fresh, next: None, stuck_at: None };
    }
    let newest = newest.unwrap_or(cursor.at_ms);
    let (next, stuck_at) = if newest > cursor.at_ms {
        (Cursor { at_ms: newest, keys: keys_at_newest }, None)
    } else if !fresh.is_empty() {
        // A full page, all at the cursor's millisecond, with some new: ask again for the rest.
        (Cursor { at_ms: cursor.at_ms, keys: keys_at_cursor }, None)
    } else {
        // The same full page again: the provider cannot show more of this millisecond.
        (Cursor { at_ms: cursor.at_ms + 1, keys: BTreeSet::new() }, Some(cursor.at_ms))
    };
    let next = (next.at_ms <= to_ms).then_some(next);
    Step { fresh, next, stuck_at }
}

#[cfg(test)]
mod tests {
    use imbridge_provider::Conversation;
    use serde_json::Map;

    use super::*;

    fn message(key: u32, at: i64) -> MessageEvent {
        MessageEvent {
            key: key.to_string(),
            from: "a".into(),
            to: "b".into(),
            conversation: Conversation::P2p,
            counts_as_unread: true,
            sent_at_ms: at,
            document: Map::new(),
        }
    }

    /// A provider holding `messages`: the oldest `page` of `[begin, end]`, sorted by (time, key).
    fn provider(messages: &[MessageEvent], begin: i64, end: i64, page: usize) -> Vec<MessageEvent> {
        let mut found: Vec<_> = messages.iter().filter(|m| (begin..=end).contains(&m.sent_at_ms)).cloned().collect();
        found.sort_by_key(|m| (m.sent_at_ms, m.key.parse::<u32>().unwrap()));
        found.truncate(page);
        found
    }

    /// Walk `[from, to]` to the end; every key handled, and how many windows it took.
    fn walk(messages: &[MessageEvent], from: i64, to: i64, page: usize) -> (Vec<String>, usize, Vec<i64>) {
        let (mut cursor, mut handled, mut windows, mut stuck) = (Cursor::start(from), Vec::new(), 0, Vec::new());
        loop {
            windows += 1;
            assert!(windows < 1000, "no progress");
            let (begin, end) = cursor.window(to);
            let step = step(&cursor, to, provider(messages, begin, end, page), page);
            handled.extend(step.fresh.iter().map(|m| m.key.clone()));
            stuck.extend(step.stuck_at);
            match step.next {
                Some(next) => cursor = next,
                None => return (handled, windows, stuck),
            }
        }
    }

    #[test]
    fn every_message_once_when_pages_split_a_millisecond() {
        // 250 messages, three per millisecond: page boundaries fall inside a millisecond.
        let messages: Vec<_> = (0..250).map(|i| message(i, 1_000 + i64::from(i / 3))).collect();
        let (handled, windows, stuck) = walk(&messages, 1_000, 2_000, 100);
        let mut sorted = handled.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!((handled.len(), sorted.len()), (250, 250));
        assert_eq!(windows, 3);
        assert!(stuck.is_empty());
    }

    #[test]
    fn the_range_ends_are_included_and_nothing_outside_is_taken() {
        let messages = vec![message(1, 9), message(2, 10), message(3, 15), message(4, 20), message(5, 21)];
        let (handled, windows, _) = walk(&messages, 10, 20, 100);
        assert_eq!(handled, ["2", "3", "4"]);
        assert_eq!(windows, 1);
        // A full page ending exactly at `to`: the next window is `[to, to + 1]`, and what it finds
        // after `to` is left out.
        let at_end = vec![message(9, 19), message(0, 20), message(1, 20), message(10, 21)];
        let (handled, windows, stuck) = walk(&at_end, 10, 20, 3);
        assert_eq!(handled, ["9", "0", "1"]);
        assert_eq!(windows, 2);
        assert!(stuck.is_empty());
    }

    #[test]
    fn more_than_a_page_in_one_millisecond_moves_on_and_says_so() {
        let messages: Vec<_> = (0..5).map(|i| message(i, 50)).chain([message(9, 60)]).collect();
        let (handled, _, stuck) = walk(&messages, 0, 100, 3);
        assert_eq!(handled, ["0", "1", "2", "9"]);
        assert_eq!(stuck, [50]);
    }

    #[test]
    fn an_empty_range_is_done_in_one_window() {
        let (handled, windows, _) = walk(&[], 0, 100, 100);
        assert!(handled.is_empty());
        assert_eq!(windows, 1);
    }

    #[test]
    fn a_repeated_key_in_one_page_is_handled_once() {
        let page = vec![message(1, 5), message(1, 5), message(2, 6)];
        let step = step(&Cursor::start(0), 10, page, 100);
        assert_eq!(step.fresh.len(), 2);
        assert!(step.next.is_none());
    }
}
