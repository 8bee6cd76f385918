-- Credentials have a whole life: tokens may expire and say when they were
-- last used, and every grant, revocation and removal is kept in an
-- append-only audit log that admins and legal read.
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,
    -- `kind:name`, as on the timeline: `token:ops-bot`, `user:ana@example.org`.
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    subject_kind  TEXT NOT NULL CHECK (subject_kind IN ('token', 'user')),
    subject_id    BLOB NOT NULL,
    -- A token's name or a user's address, kept after the subject is gone.
    subject_name  TEXT NOT NULL,
    role          TEXT,
    previous_role TEXT,
    expires_at    TEXT
) STRICT;

CREATE INDEX audit_log_by_time ON audit_log (at DESC, id DESC);

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
