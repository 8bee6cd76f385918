-- The key that signs chain heads: generated on first start and kept, so
-- every replica signs with it (unless one is configured).
CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- What the retention purge removed, and when. Append-only like the timeline.
CREATE TABLE purge_log (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  UUID NOT NULL,
    reference    TEXT NOT NULL,
    title        TEXT NOT NULL,
    resolved_at  TIMESTAMPTZ NOT NULL,
    head_seq     BIGINT NOT NULL,
    head_hash    TEXT NOT NULL,
    events       BIGINT NOT NULL,
    purged_at    TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION purge_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the purge log is append-only';
END;
$$;

CREATE TRIGGER purge_log_is_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON purge_log
    FOR EACH STATEMENT EXECUTE FUNCTION purge_log_is_append_only();
