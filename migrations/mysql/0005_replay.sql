-- Replay jobs: POST /v1/admin/replay re-applies the raw callbacks (and optionally the dead letters)
-- received in a range through the current parser. The row is the job's whole progress: a restarted
-- instance resumes after the last page it recorded. Times are milliseconds since the Unix epoch.

CREATE TABLE replay_jobs (
    id                   CHAR(36)    NOT NULL PRIMARY KEY,
    -- The received-at range, both ends included.
    from_ms              BIGINT      NOT NULL,
    to_ms                BIGINT      NOT NULL,
    -- JSON array, or NULL for every type.
    event_types          TEXT        NULL,
    include_dead_letters BOOLEAN     NOT NULL,
    -- running | done | failed
    status               VARCHAR(16) NOT NULL,
    -- raw | dead_letters: what the cursor walks; (cursor_ms, cursor_digest) is the last row done.
    phase                VARCHAR(16) NOT NULL,
    cursor_ms            BIGINT      NULL,
    cursor_digest        VARCHAR(64) NULL,
    scanned              BIGINT      NOT NULL DEFAULT 0,
    reapplied            BIGINT      NOT NULL DEFAULT 0,
    unchanged            BIGINT      NOT NULL DEFAULT 0,
    skipped              BIGINT      NOT NULL DEFAULT 0,
    now_parsed           BIGINT      NOT NULL DEFAULT 0,
    still_failing        BIGINT      NOT NULL DEFAULT 0,
    attempts             BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at      BIGINT      NOT NULL,
    lease_owner          VARCHAR(64) NULL,
    lease_until          BIGINT      NULL,
    error                TEXT        NULL,
    created_at           BIGINT      NOT NULL,
    updated_at           BIGINT      NOT NULL,
    KEY replay_jobs_due (status, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
