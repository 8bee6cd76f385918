-- Credentials have a whole life: tokens may expire and say when they were
-- last used, and every grant, revocation and removal is kept in an
-- append-only audit log that admins and legal read.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_tokens ADD COLUMN last_used_at TIMESTAMPTZ;

CREATE TABLE audit_log (
    id            BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    -- `kind:name`, as on the timeline: `token:ops-bot`, `user:ana@example.org`.
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    subject_kind  TEXT NOT NULL CHECK (subject_kind IN ('token', 'user')),
    subject_id    UUID NOT NULL,
    -- A token's name or a user's address, kept after the subject is gone.
    subject_name  TEXT NOT NULL,
    role          TEXT,
    previous_role TEXT,
    expires_at    TIMESTAMPTZ
);

CREATE INDEX audit_log_by_time ON audit_log (at DESC, id DESC);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;

CREATE TRIGGER audit_log_is_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
