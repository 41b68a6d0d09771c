-- Replay jobs: POST /v1/admin/replay re-applies the raw callbacks (and optionally the dead letters)
-- received in a range through the current parser. The row is the job's whole progress: a restarted
-- instance resumes after the last page it recorded. Times are milliseconds since the Unix epoch.

CREATE TABLE replay_jobs (
    id                   TEXT    NOT NULL PRIMARY KEY,  -- UUID
    from_ms              INTEGER NOT NULL,              -- received-at range, both ends included
    to_ms                INTEGER NOT NULL,
    event_types          TEXT,                          -- JSON array, or NULL for every type
    include_dead_letters INTEGER NOT NULL,
    status               TEXT    NOT NULL,              -- running | done | failed
    phase                TEXT    NOT NULL,              -- raw | dead_letters: what the cursor walks
    cursor_ms            INTEGER,                       -- (received-at, digest) of the last row done
    cursor_digest        TEXT,
    scanned              INTEGER NOT NULL DEFAULT 0,
    reapplied            INTEGER NOT NULL DEFAULT 0,
    unchanged            INTEGER NOT NULL DEFAULT 0,
    skipped              INTEGER NOT NULL DEFAULT 0,
    now_parsed           INTEGER NOT NULL DEFAULT 0,
    still_failing        INTEGER NOT NULL DEFAULT 0,
    attempts             INTEGER NOT NULL DEFAULT 0,    -- failed tries of the current page
    next_attempt_at      INTEGER NOT NULL,              -- due time; a claim sets it to lease_until
    lease_owner          TEXT,
    lease_until          INTEGER,
    error                TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- The claim query and the overlap check: running jobs.
CREATE INDEX replay_jobs_due ON replay_jobs (status, next_attempt_at);
