-- Marks the installation as set up: the first start mints one admin token,
-- and this single row keeps "first" true when several replicas start at once.
CREATE TABLE installation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    set_up_at  TIMESTAMPTZ NOT NULL
);

-- An installation that already has tokens was set up by an earlier release.
INSERT INTO installation (id, set_up_at)
SELECT 1, MIN(created_at) FROM api_tokens HAVING COUNT(*) > 0;
