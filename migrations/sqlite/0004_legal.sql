-- The key that signs chain heads: generated on first start and kept, so
-- every replica signs with it (unless one is configured).
CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key TEXT NOT NULL,             -- base64 Ed25519 seed
    public_key  TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

-- What the retention purge removed, and when. Append-only like the timeline.
CREATE TABLE purge_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BLOB NOT NULL,
    reference    TEXT NOT NULL,
    title        TEXT NOT NULL,
    resolved_at  TEXT NOT NULL,
    head_seq     INTEGER NOT NULL,
    head_hash    TEXT NOT NULL,
    events       INTEGER NOT NULL,
    purged_at    TEXT NOT NULL
) STRICT;

CREATE TRIGGER purge_log_is_append_only_update BEFORE UPDATE ON purge_log
BEGIN
    SELECT RAISE(ABORT, 'the purge log is append-only');
END;

CREATE TRIGGER purge_log_is_append_only_delete BEFORE DELETE ON purge_log
BEGIN
    SELECT RAISE(ABORT, 'the purge log is append-only');
END;
