-- Version 2: the request's path and query kept with each raw callback and dead letter (Tencent
-- names a login's platform there, not in the body), so that a replay parses it as it arrived.
-- Rows kept before have none: ''.
ALTER TABLE raw_callbacks ADD COLUMN path_and_query TEXT NOT NULL DEFAULT '';
ALTER TABLE dead_letters ADD COLUMN path_and_query TEXT NOT NULL DEFAULT '';
