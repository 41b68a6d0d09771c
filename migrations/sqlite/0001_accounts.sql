-- Accounts the bridge registered with the IM provider (NetEase accid + login token).
--
-- The row is the source of truth for an account's token; the provider is converged to it
-- (src/accounts/service.rs explains the protocol):
--   registered_at_ms IS NULL  a reservation: the token is chosen but the provider may not have the
--                             account yet. Not visible through the API.
--   token_synced = 0          the token was (re)written and the provider may not accept it yet;
--                             the next call for the account pushes it again.
-- Timestamps are milliseconds since the Unix epoch (UTC), the unit of every imbridge table.
CREATE TABLE accounts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    accid            TEXT    NOT NULL,
    name             TEXT,
    icon             TEXT,
    token            TEXT    NOT NULL,
    token_synced     BOOLEAN NOT NULL DEFAULT 0,
    registered_at_ms INTEGER,
    blocked          BOOLEAN NOT NULL DEFAULT 0,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    CONSTRAINT uq_accounts_accid UNIQUE (accid)
);
