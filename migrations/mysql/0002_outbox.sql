-- The notification outbox: a notification accepted by POST /v1/notifications and its delivery items,
-- one per provider call (a chunk of at most max_batch_recipients accounts, or one team). Times are
-- milliseconds since the Unix epoch (UTC), taken from the imbridge instance's clock.

CREATE TABLE notifications (
    id              CHAR(36)        NOT NULL PRIMARY KEY,
    -- Binary so that keys compare byte for byte (no case folding, no trailing-space padding).
    idempotency_key VARBINARY(1020) NULL UNIQUE,
    body_hash       CHAR(64)        NOT NULL,
    request         MEDIUMTEXT      NOT NULL,
    target_kind     VARCHAR(8)      NOT NULL,
    recipient_count BIGINT          NOT NULL,
    -- queued|sending|delivered|partially_failed|failed as of the last settled delivery.
    status          VARCHAR(16)     NOT NULL,
    created_at      BIGINT          NOT NULL,
    updated_at      BIGINT          NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE notification_deliveries (
    id                 BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    notification_id    CHAR(36)     NOT NULL,
    seq                BIGINT       NOT NULL,
    request_id         CHAR(36)     NOT NULL UNIQUE,
    recipients         MEDIUMTEXT   NULL,
    team               VARCHAR(64)  NULL,
    recipient_count    BIGINT       NOT NULL,
    status             VARCHAR(16)  NOT NULL,
    attempts           BIGINT       NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT       NOT NULL,
    lease_owner        VARCHAR(64)  NULL,
    lease_until        BIGINT       NULL,
    last_code          BIGINT       NULL,
    last_desc          TEXT         NULL,
    unregistered       MEDIUMTEXT   NULL,
    unregistered_count BIGINT       NOT NULL DEFAULT 0,
    created_at         BIGINT       NOT NULL,
    updated_at         BIGINT       NOT NULL,
    UNIQUE KEY notification_deliveries_seq (notification_id, seq),
    KEY notification_deliveries_due (status, next_attempt_at),
    CONSTRAINT notification_deliveries_notification FOREIGN KEY (notification_id) REFERENCES notifications (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
