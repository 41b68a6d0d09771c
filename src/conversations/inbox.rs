//! `GET /v1/conversations`: an account's inbox.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::Json;
use futures::TryFutureExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::cursor::ConversationCursor;
use super::page_limit;
use super::ConversationsState;
use crate::accid::Accid;
use crate::error::{ApiQuery, AppError, ErrorBody};
use imbridge_provider::ImProvider;

use crate::messages::{
    provider_message_id, ConversationPage, ConversationSummary, MessageStore, PairQuery, F_FROM, F_KEY, F_RECALLED,
    F_SENT_AT, F_TO,
};

/// How many conversations active since a walk began are re-placed where they stood then; beyond
/// it (an account with that many conversations active during one walk) the rest are left out of
/// this walk (the page query lists only conversations last active by the reference moment).
const MOVED_MAX: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct InboxQuery {
    /// Whose inbox (required).
    #[param(required = true, example = "buyer_01")]
    accid: Option<String>,
    /// Conversations per page, 1 to 200 (default 50).
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// Only conversations with unread messages (default false).
    unread_only: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accid": "buyer_01", "conversations": [{"peer": "shop_1", "last_message": {
    "msgid_server": "3456789", "from": "shop_1", "to": "buyer_01", "type": "TEXT", "body": "hello",
    "sent_at": 1441977355557_i64, "recalled": false}, "unread": 1, "peer_read_at": null}],
    "total_unread": 1, "next_cursor": null}))]
pub struct Inbox {
    pub accid: String,
    pub conversations: Vec<Conversation>,
    /// Unread messages over all conversations (the sum `/v1/unread` gives for every peer).
    pub total_unread: u64,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    pub peer: String,
    /// The newest one-to-one message in either direction (shown recalled when it was).
    pub last_message: Option<LastMessage>,
    /// Exactly `/v1/unread`'s count for this peer.
    pub unread: u64,
    /// Up to when the peer has read this account's messages (ms), `null` before any receipt.
    pub peer_read_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastMessage {
    pub msgid_server: String,
    pub from: String,
    pub to: String,
    /// The provider's message type (`TEXT`, `PICTURE`, …).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The provider's `body` as sent (text, or JSON for some types).
    #[schema(value_type = Object)]
    pub body: Value,
    pub sent_at: i64,
    pub recalled: bool,
}

impl LastMessage {
    fn of(provider: &dyn ImProvider, document: &Value) -> Option<Self> {
        let content = provider.message_content(document);
        Some(LastMessage {
            msgid_server: provider_message_id(document.get(F_KEY)?.as_str()?).to_owned(),
            from: document.get(F_FROM)?.as_str()?.to_owned(),
            to: document.get(F_TO)?.as_str()?.to_owned(),
            kind: content.kind,
            body: content.body,
            sent_at: document.get(F_SENT_AT)?.as_i64()?,
            recalled: document.get(F_RECALLED).and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

/// An account's one-to-one conversations, newest activity first.
///
/// Each with its last message in either direction (shown recalled when it was), its unread count
/// (exactly `/v1/unread`'s), and how far the peer has read this account's messages. Paging by
/// `cursor` is stable while messages arrive: a walk lists every conversation that existed when it
/// began once, in the order of that moment; conversations that start during the walk wait for
/// the next walk.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    operation_id = "list_conversations",
    tag = "conversations",
    params(InboxQuery),
    responses(
        (status = 200, description = "A page of the inbox", body = Inbox),
        (status = 400, description = "An unknown query parameter (`unknown_field`)", body = ErrorBody),
        (status = 422, description = "A missing or invalid `accid`, `limit` outside 1..=200, or a `cursor` this API did not give (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "The message store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<ConversationsState>,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<Json<Inbox>, AppError> {
    let (provider, store) = (&state.provider, &state.messages);
    let owner = Accid::parse(provider.as_ref(), "accid", query.accid.as_deref().unwrap_or_default())?;
    let limit = page_limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(ConversationCursor::parse).transpose()?;

    // The total is one count over the unread index and goes out beside the walk. The per-peer
    // counts of every peer are needed only to filter by them, and otherwise just for the page's
    // peers (below).
    let unread_only = query.unread_only.unwrap_or(false);
    let page = async {
        // The walk's reference moment: a cursor's; for a first page filtered by unread, the
        // owner's newest activity (the filter must not move it); for any other first page, the
        // newest row of the page itself (`walk`).
        let filter = async {
            match unread_only {
                true => store.unread_all(&owner).await.map(|all| Some(all.into_keys().collect::<Vec<_>>())),
                false => Ok(None),
            }
        };
        let reference = async {
            match (&cursor, unread_only) {
                (Some(c), _) => Ok(Some(c.as_of_ms)),
                (None, true) => store
                    .conversations_since(&owner, i64::MIN, 1)
                    .await
                    .map(|newest| Some(newest.first().map_or(i64::MIN, |c| c.last_at_ms))),
                (None, false) => Ok(None),
            }
        };
        let (only, as_of_ms) = tokio::try_join!(filter, reference)?;
        if only.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), false, i64::MIN));
        }
        let after = cursor.as_ref().map(|c| (c.at_ms, c.peer.clone()));
        walk(store.as_ref(), &owner, as_of_ms, after, limit, only.as_deref()).await
    };
    let (total_unread, (rows, more, as_of_ms)) =
        tokio::try_join!(store.unread_total(&owner).map_err(AppError::from), page)?;

    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|last| ConversationCursor { as_of_ms, at_ms: last.at_ms, peer: last.summary.peer.clone() }.encode());
    let peers: Vec<String> = rows.iter().map(|r| r.summary.peer.clone()).collect();
    let keys: Vec<String> = rows.iter().map(|r| r.summary.last_key.clone()).collect();
    let (documents, read_marks, unread) = tokio::try_join!(
        store.messages_by_key(&keys),
        store.watermarks_on(&owner, &peers),
        store.unread(&owner, &peers),
    )?;
    let last: HashMap<&str, &Value> = documents.iter().filter_map(|d| Some((d.get(F_KEY)?.as_str()?, d))).collect();
    let conversations = rows
        .iter()
        .map(|r| Conversation {
            peer: r.summary.peer.clone(),
            last_message: last.get(r.summary.last_key.as_str()).and_then(|d| LastMessage::of(provider.as_ref(), d)),
            unread: unread.get(&r.summary.peer).copied().unwrap_or(0),
            peer_read_at: read_marks.get(&r.summary.peer).copied(),
        })
        .collect();
    Ok(Json(Inbox { accid: owner.into_string(), conversations, total_unread, next_cursor }))
}

/// A conversation at its place in the walk: its last activity as of the walk's reference moment.
struct Placed {
    at_ms: i64,
    summary: ConversationSummary,
}

/// The rows of one page (at most `limit`), whether more follow, and the walk's reference moment.
///
/// Without a reference moment (the first page of an unfiltered walk) the page is the newest
/// conversations as they are now, and its newest row becomes the walk's reference moment: one
/// query. Otherwise the page is the conversations that stood beyond the cursor at `as_of_ms`:
/// those whose last activity is still at or before it (the page query), and those active since,
/// placed where they stood then ([`moved_since`]). The two queries run one after the other, page
/// first: a conversation that moves between them is in both (kept once), and one that moved before
/// the page was read is in the second. Run together, a move between them could leave it out of
/// both. Places are by send time, so a message that arrives late, sent before the reference moment
/// or at that very millisecond, can move its conversation past the cursor unseen.
async fn walk(
    store: &dyn MessageStore,
    owner: &str,
    as_of_ms: Option<i64>,
    after: Option<(i64, String)>,
    limit: usize,
    only: Option<&[String]>,
) -> Result<(Vec<Placed>, bool, i64), AppError> {
    let page = ConversationPage {
        as_of_ms: as_of_ms.unwrap_or(i64::MAX),
        after,
        limit: limit + 1,
        peers: only.map(<[_]>::to_vec),
    };
    let summaries = store.conversation_page(owner, &page).await?;
    let Some(as_of_ms) = as_of_ms else {
        let newest = summaries.first().map_or(i64::MIN, |s| s.last_at_ms);
        let (rows, more) = merge(summaries, Vec::new(), limit);
        return Ok((rows, more, newest));
    };
    let moved = moved_since(store, owner, as_of_ms, page.after.as_ref(), only).await?;
    let (rows, more) = merge(summaries, moved, limit);
    Ok((rows, more, as_of_ms))
}

/// One page's rows from the page query's summaries and the moved conversations: newest first
/// (ties by peer), each peer once (a moved conversation's newer summary kept), at most `limit`,
/// and whether more follow.
fn merge(summaries: Vec<ConversationSummary>, moved: Vec<Placed>, limit: usize) -> (Vec<Placed>, bool) {
    let mut rows = moved;
    rows.extend(summaries.into_iter().map(|summary| Placed { at_ms: summary.last_at_ms, summary }));
    // Stable: of two rows of one peer at one place, the moved one (first) stays; at two places
    // (a late message, sent before the reference moment, arrived between the two reads), the later.
    rows.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then_with(|| a.summary.peer.cmp(&b.summary.peer)));
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert(r.summary.peer.clone()));
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

/// Conversations with activity after `as_of_ms`, placed where they stood at `as_of_ms` (by their
/// newest message up to then), those beyond `after` only; ones that did not exist then are left
/// out of this walk.
async fn moved_since(
    store: &dyn MessageStore,
    owner: &str,
    as_of_ms: i64,
    after: Option<&(i64, String)>,
    only: Option<&[String]>,
) -> Result<Vec<Placed>, AppError> {
    let mut placed = Vec::new();
    for summary in store.conversations_since(owner, as_of_ms, MOVED_MAX).await? {
        if only.is_some_and(|peers| !peers.contains(&summary.peer)) {
            continue;
        }
        let then =
            PairQuery { from_ms: i64::MIN, to_ms: as_of_ms, after: None, ascending: false, limit: 1, only_from: None };
        let Some(at_ms) =
            store.pair_messages(owner, &summary.peer, &then).await?.first().and_then(|d| d[F_SENT_AT].as_i64())
        else {
            continue;
        };
        let beyond = after.is_none_or(|(c_at, c_peer)| at_ms < *c_at || (at_ms == *c_at && summary.peer > *c_peer));
        if beyond {
            placed.push(Placed { at_ms, summary });
        }
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(peer: &str, last_at_ms: i64, last_key: &str) -> ConversationSummary {
        ConversationSummary { peer: peer.into(), last_at_ms, last_key: last_key.into() }
    }

    fn moved(peer: &str, at_ms: i64, now_at_ms: i64, last_key: &str) -> Placed {
        Placed { at_ms, summary: summary(peer, now_at_ms, last_key) }
    }

    fn shown(rows: &[Placed]) -> Vec<(&str, i64, &str)> {
        rows.iter().map(|r| (r.summary.peer.as_str(), r.at_ms, r.summary.last_key.as_str())).collect()
    }

    #[test]
    fn a_conversation_read_by_both_queries_of_a_page_is_listed_once_with_its_new_message() {
        // The page query read c at 100 (message m1); a message at 900, after the reference moment,
        // arrived before the moved-since query, which places c where it stood: at 100.
        let page = vec![summary("a", 300, "a1"), summary("c", 100, "m1"), summary("b", 50, "b1")];
        let (rows, more) = merge(page, vec![moved("c", 100, 900, "m2")], 2);
        assert_eq!(shown(&rows), [("a", 300, "a1"), ("c", 100, "m2")]);
        assert!(more, "b follows");

        let page = vec![summary("c", 100, "m1")];
        let (rows, more) = merge(page, vec![moved("c", 100, 900, "m2")], 2);
        assert_eq!(shown(&rows), [("c", 100, "m2")], "once, so no next page for a row already shown");
        assert!(!more);
    }

    #[test]
    fn a_late_message_before_the_reference_moment_places_the_conversation_once_at_its_later_place() {
        let page = vec![summary("c", 100, "m1"), summary("d", 120, "d1")];
        let (rows, more) = merge(page, vec![moved("c", 150, 900, "m3")], 50);
        assert_eq!(shown(&rows), [("c", 150, "m3"), ("d", 120, "d1")]);
        assert!(!more);
    }

    #[test]
    fn rows_are_newest_first_with_ties_by_peer_and_more_says_whether_the_limit_cut_any() {
        let page = vec![summary("b", 10, "b1"), summary("a", 10, "a1"), summary("c", 5, "c1")];
        let (rows, more) = merge(page, vec![moved("d", 7, 99, "d1")], 3);
        assert_eq!(shown(&rows), [("a", 10, "a1"), ("b", 10, "b1"), ("d", 7, "d1")]);
        assert!(more);
        let (rows, more) = merge(vec![summary("a", 1, "a1")], Vec::new(), 1);
        assert_eq!((rows.len(), more), (1, false));
    }
}
