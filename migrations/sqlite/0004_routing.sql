-- Customer-service routing (src/routing): shops, their agents, and buyer→agent assignments; plus
-- the chat role of each account (src/accounts/role.rs). Times are milliseconds since the Unix epoch.

-- buyer | seller | agent; NULL until an explicit role is given or the account is first used in a
-- slot (POST /v1/chats buyer/seller, a shop's owner/agents). Once set it never changes.
ALTER TABLE accounts ADD COLUMN role TEXT;

CREATE TABLE shops (
    shop_id        TEXT    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL,
    owner          TEXT    NOT NULL,             -- canonical accid, role seller
    sticky_ms      INTEGER NOT NULL,
    idle_close_ms  INTEGER NOT NULL,
    fallback       TEXT    NOT NULL,             -- owner | none
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);

-- One row per agent ever listed; a removed agent keeps its row (active = 0) so that its open
-- assignments stay visible and its counter stays right until they are transferred or closed.
-- open_assignments counts the open assignments holding one of its `capacity` slots: it only moves
-- in the same transaction as the assignment rows it counts, with a conditional update
-- (`open_assignments < capacity`), so no agent exceeds capacity even across instances.
CREATE TABLE shop_agents (
    shop_id             TEXT    NOT NULL,
    accid               TEXT    NOT NULL,
    name                TEXT,
    capacity            INTEGER NOT NULL,
    availability        TEXT    NOT NULL DEFAULT 'available', -- available | away | offline
    active              BOOLEAN NOT NULL DEFAULT 1,
    open_assignments    INTEGER NOT NULL DEFAULT 0,
    last_assigned_at_ms INTEGER,
    position            INTEGER NOT NULL DEFAULT 0,           -- order in the shop's agent list
    updated_at_ms       INTEGER NOT NULL,
    PRIMARY KEY (shop_id, accid)
);

-- open_buyer is the buyer while the assignment is open and NULL once closed: the unique key makes
-- "one open assignment per buyer per shop" a fact the database enforces (NULLs do not collide).
CREATE TABLE assignments (
    id               TEXT    NOT NULL PRIMARY KEY,  -- UUID
    shop_id          TEXT    NOT NULL,
    buyer            TEXT    NOT NULL,
    agent            TEXT    NOT NULL,              -- an agent of the shop, or its owner (fallback)
    counted          BOOLEAN NOT NULL,              -- holds one of the agent's capacity slots
    reason           TEXT    NOT NULL,              -- sticky | least_loaded | fallback
    status           TEXT    NOT NULL,              -- open | closed
    open_buyer       TEXT,
    transferred_from TEXT,
    created_at_ms    INTEGER NOT NULL,
    assigned_at_ms   INTEGER NOT NULL,              -- created or last transferred
    activity_at_ms   INTEGER NOT NULL,              -- the newest message seen, or assigned_at_ms
    closed_at_ms     INTEGER,
    close_reason     TEXT,                          -- closed | idle | transferred_away | failed
    CONSTRAINT uq_assignments_open UNIQUE (shop_id, open_buyer)
);
CREATE INDEX ix_assignments_shop ON assignments (shop_id, created_at_ms, id);
CREATE INDEX ix_assignments_buyer ON assignments (shop_id, buyer, created_at_ms);
CREATE INDEX ix_assignments_idle ON assignments (status, activity_at_ms);
