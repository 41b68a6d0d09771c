-- The embedded message store: its own SQLite file, separate from the accounts database, created at
-- open (every statement is idempotent). Same facts as the MongoDB collections.

-- Messages: the provider's document as JSON text, plus the columns the queries need.
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    msg_key TEXT NOT NULL UNIQUE,          -- provider:id (message_key): a redelivery is a no-op
    to_acc TEXT NOT NULL,
    from_acc TEXT NOT NULL,
    conversation TEXT NOT NULL,            -- p2p, team, p2p_system, team_system, other
    counts_unread INTEGER NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    state INTEGER NOT NULL,                -- 0 unread, 1 read (agrees with read_watermarks)
    recalled INTEGER NOT NULL,             -- agrees with recalls
    document TEXT NOT NULL                 -- JSON, without state and recalled
);

-- Holds only unread one-to-one messages, so it stays small; serves the read receipt's state update
-- and the count that builds `unread_counts` (migration 3). The last two columns are constant in it,
-- but listing them lets SQLite count from the index alone (a covering index) without the rows.
CREATE INDEX IF NOT EXISTS messages_unread
    ON messages (to_acc, from_acc, counts_unread, recalled, sent_at_ms, conversation, state)
    WHERE conversation = 'p2p' AND state = 0;

-- One pair's messages in time order (both directions are two ranges): history, export, mark-read.
CREATE INDEX IF NOT EXISTS messages_pair ON messages (to_acc, from_acc, sent_at_ms, msg_key)
    WHERE conversation = 'p2p';

-- The inbox: per (owner, peer), the newest one-to-one message in either direction, written in the
-- same transaction as the message (a cache of the messages, rebuilt from them when empty).
CREATE TABLE IF NOT EXISTS conversations (
    owner TEXT NOT NULL,
    peer TEXT NOT NULL,
    last_at_ms INTEGER NOT NULL,
    last_key TEXT NOT NULL,
    PRIMARY KEY (owner, peer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversations_recent ON conversations (owner, last_at_ms DESC, peer);

-- Unread one-to-one messages per (reader, peer): the count the unread queries answer from, so their
-- cost does not grow with the history of a conversation. Kept in the same transaction as every fact
-- that changes it (a new message, a receipt, a recall; apply.rs) and built from the messages by
-- migration 3, so it always equals counting them (the property test checks it against an oracle).
CREATE TABLE IF NOT EXISTS unread_counts (
    reader TEXT NOT NULL,
    peer TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (reader, peer)
) WITHOUT ROWID;
-- A reader's conversations with something unread (the inbox's total and its unread-only filter).
CREATE INDEX IF NOT EXISTS unread_counts_nonzero ON unread_counts (reader, peer, n) WHERE n > 0;

CREATE TABLE IF NOT EXISTS read_watermarks (
    reader TEXT NOT NULL,
    peer TEXT NOT NULL,
    read_up_to_ms INTEGER NOT NULL,
    PRIMARY KEY (reader, peer)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS recalls (
    msg_key TEXT NOT NULL PRIMARY KEY,
    from_acc TEXT NOT NULL,
    to_acc TEXT NOT NULL,
    at_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Presence per (account, client type lowercased); the newest event wins. (The earlier table
-- `presence`, keyed by device, is no longer read: NetEase does not always name the device.)
CREATE TABLE IF NOT EXISTS presence_clients (
    accid TEXT NOT NULL,
    client TEXT NOT NULL,
    device_id TEXT,
    online INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    logout_reason INTEGER,
    document TEXT NOT NULL,
    PRIMARY KEY (accid, client)
) WITHOUT ROWID;

-- The audit trail: one row per distinct body (digest of provider + body), purged after retention.
CREATE TABLE IF NOT EXISTS raw_callbacks (
    digest TEXT NOT NULL PRIMARY KEY,
    provider TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_callbacks_expiry ON raw_callbacks (expires_at_ms);
-- Replay reads the trail back by time, in (received_at_ms, digest) order (a resumable cursor).
CREATE INDEX IF NOT EXISTS raw_callbacks_received ON raw_callbacks (received_at_ms, digest);

CREATE TABLE IF NOT EXISTS dead_letters (
    digest TEXT NOT NULL PRIMARY KEY,
    provider TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at_ms);
-- Replay pages through dead letters by the same (received_at_ms, digest) cursor.
CREATE INDEX IF NOT EXISTS dead_letters_received_digest ON dead_letters (received_at_ms, digest);

-- Conversation summaries for messages stored before they existed: built once, when the table is
-- still empty (a no-op afterwards, and on a new file). A message NetEase withheld from its receiver
-- (`blacklist`) is only in its sender's conversation, as on the write path.
INSERT INTO conversations (owner, peer, last_at_ms, last_key)
SELECT owner, peer, sent_at_ms, msg_key FROM (
    SELECT from_acc AS owner, to_acc AS peer, sent_at_ms, msg_key FROM messages WHERE conversation = 'p2p'
    UNION ALL
    SELECT to_acc AS owner, from_acc AS peer, sent_at_ms, msg_key FROM messages
    WHERE conversation = 'p2p' AND coalesce(json_extract(document, '$.blacklist'), '') NOT IN ('true', 1)
)
WHERE NOT EXISTS (SELECT 1 FROM conversations)
ON CONFLICT (owner, peer) DO UPDATE SET last_at_ms = excluded.last_at_ms, last_key = excluded.last_key
    WHERE (excluded.last_at_ms, excluded.last_key) > (conversations.last_at_ms, conversations.last_key);
