-- Customer-service routing (src/routing): shops, their agents, and buyer→agent assignments; plus
-- the chat role of each account (src/accounts/role.rs). Times are milliseconds since the Unix epoch.
-- The SQLite migration of the same number explains each column.

ALTER TABLE accounts ADD COLUMN role VARCHAR(8) NULL;

CREATE TABLE shops (
    shop_id        VARCHAR(64)  NOT NULL PRIMARY KEY,
    name           VARCHAR(128) NOT NULL,
    owner          VARCHAR(32)  NOT NULL,
    sticky_ms      BIGINT       NOT NULL,
    idle_close_ms  BIGINT       NOT NULL,
    fallback       VARCHAR(8)   NOT NULL,
    created_at_ms  BIGINT       NOT NULL,
    updated_at_ms  BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE shop_agents (
    shop_id             VARCHAR(64) NOT NULL,
    accid               VARCHAR(32) NOT NULL,
    name                VARCHAR(64) NULL,
    capacity            BIGINT      NOT NULL,
    availability        VARCHAR(16) NOT NULL DEFAULT 'available',
    active              BOOLEAN     NOT NULL DEFAULT TRUE,
    open_assignments    BIGINT      NOT NULL DEFAULT 0,
    last_assigned_at_ms BIGINT      NULL,
    position            BIGINT      NOT NULL DEFAULT 0,
    updated_at_ms       BIGINT      NOT NULL,
    PRIMARY KEY (shop_id, accid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE assignments (
    id               CHAR(36)    NOT NULL PRIMARY KEY,
    shop_id          VARCHAR(64) NOT NULL,
    buyer            VARCHAR(32) NOT NULL,
    agent            VARCHAR(32) NOT NULL,
    counted          BOOLEAN     NOT NULL,
    reason           VARCHAR(16) NOT NULL,
    status           VARCHAR(8)  NOT NULL,
    open_buyer       VARCHAR(32) NULL,
    transferred_from VARCHAR(32) NULL,
    created_at_ms    BIGINT      NOT NULL,
    assigned_at_ms   BIGINT      NOT NULL,
    activity_at_ms   BIGINT      NOT NULL,
    closed_at_ms     BIGINT      NULL,
    close_reason     VARCHAR(16) NULL,
    CONSTRAINT uq_assignments_open UNIQUE (shop_id, open_buyer),
    INDEX ix_assignments_shop (shop_id, created_at_ms, id),
    INDEX ix_assignments_buyer (shop_id, buyer, created_at_ms),
    INDEX ix_assignments_idle (status, activity_at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
