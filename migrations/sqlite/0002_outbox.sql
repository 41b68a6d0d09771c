-- The notification outbox: a notification accepted by POST /v1/notifications and its delivery items,
-- one per provider call (a chunk of at most max_batch_recipients accounts, or one team). Times are
-- milliseconds since the Unix epoch (UTC), taken from the imbridge instance's clock.

CREATE TABLE notifications (
    id              TEXT    NOT NULL PRIMARY KEY,  -- UUID
    idempotency_key TEXT    UNIQUE,                -- the caller's key, exact bytes; NULL = none
    body_hash       TEXT    NOT NULL,              -- hex SHA-256 of the canonical request
    request         TEXT    NOT NULL,              -- JSON: the message without its recipient list
    target_kind     TEXT    NOT NULL,              -- 'users' | 'team'
    recipient_count INTEGER NOT NULL,
    status          TEXT    NOT NULL,              -- roll-up as of the last settled delivery (the API computes it live)
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE notification_deliveries (
    id                 INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    notification_id    TEXT    NOT NULL REFERENCES notifications (id),
    seq                INTEGER NOT NULL,             -- chunk number within the notification
    request_id         TEXT    NOT NULL UNIQUE,      -- fixed at enqueue; every retry reuses it
    recipients         TEXT,                         -- JSON array of accids; NULL for a team
    team               TEXT,                         -- team id; NULL for accounts
    recipient_count    INTEGER NOT NULL,
    status             TEXT    NOT NULL,             -- pending | delivered | failed
    attempts           INTEGER NOT NULL DEFAULT 0,   -- sends started (counted when claimed)
    next_attempt_at    INTEGER NOT NULL,             -- due time; a claim sets it to lease_until
    lease_owner        TEXT,
    lease_until        INTEGER,
    last_code          INTEGER,                      -- the provider's last answer code
    last_desc          TEXT,
    unregistered       TEXT,                         -- JSON array of accids the provider does not know
    unregistered_count INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (notification_id, seq)
);

-- The claim query: pending items whose due time has passed (including expired leases).
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
