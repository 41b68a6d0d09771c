-- Backfill jobs: POST /v1/backfill imports one P2P session's history from the provider, window by
-- window. The row is the job's whole progress, so a restarted instance resumes where the last
-- completed window ended. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE backfill_jobs (
    id                 TEXT    NOT NULL PRIMARY KEY,  -- UUID
    accid              TEXT    NOT NULL,              -- canonical accid
    peer               TEXT    NOT NULL,              -- canonical accid
    from_ms            INTEGER NOT NULL,              -- the requested range, both ends included
    to_ms              INTEGER NOT NULL,
    status             TEXT    NOT NULL,              -- running | done | failed
    cursor_ms          INTEGER NOT NULL,              -- the next window starts here
    cursor_keys        TEXT    NOT NULL DEFAULT '[]', -- JSON array: message keys at cursor_ms already handled
    imported           INTEGER NOT NULL DEFAULT 0,
    skipped_duplicates INTEGER NOT NULL DEFAULT 0,
    windows            INTEGER NOT NULL DEFAULT 0,    -- history calls completed
    attempts           INTEGER NOT NULL DEFAULT 0,    -- failed tries of the current window
    next_attempt_at    INTEGER NOT NULL,              -- due time; a claim sets it to lease_until
    lease_owner        TEXT,
    lease_until        INTEGER,
    error              TEXT,                          -- why it failed (status failed), or the last transient error
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- The claim query: running jobs whose due time has passed (including expired leases).
CREATE INDEX backfill_jobs_due ON backfill_jobs (status, next_attempt_at);
