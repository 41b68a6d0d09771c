-- Backfill jobs: POST /v1/backfill imports one P2P session's history from the provider, window by
-- window. The row is the job's whole progress, so a restarted instance resumes where the last
-- completed window ended. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE backfill_jobs (
    id                 CHAR(36)    NOT NULL PRIMARY KEY,
    accid              VARCHAR(64) NOT NULL,
    peer               VARCHAR(64) NOT NULL,
    from_ms            BIGINT      NOT NULL,
    to_ms              BIGINT      NOT NULL,
    -- running | done | failed
    status             VARCHAR(16) NOT NULL,
    -- The next window starts here; cursor_keys (JSON array) are the message keys at cursor_ms
    -- already handled.
    cursor_ms          BIGINT      NOT NULL,
    cursor_keys        MEDIUMTEXT  NOT NULL,
    imported           BIGINT      NOT NULL DEFAULT 0,
    skipped_duplicates BIGINT      NOT NULL DEFAULT 0,
    windows            BIGINT      NOT NULL DEFAULT 0,
    attempts           BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT      NOT NULL,
    lease_owner        VARCHAR(64) NULL,
    lease_until        BIGINT      NULL,
    error              TEXT        NULL,
    created_at         BIGINT      NOT NULL,
    updated_at         BIGINT      NOT NULL,
    KEY backfill_jobs_due (status, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
