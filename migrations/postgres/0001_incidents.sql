-- Incidents, the departments they engage, their tasks and their timeline.
-- Department and task rows are snapshots of the playbooks at the time they
-- joined the incident: editing the playbook files never rewrites them.

CREATE TABLE incidents (
    id              UUID PRIMARY KEY,      -- UUIDv7: ordered by opening time
    reference       TEXT NOT NULL,
    title           TEXT NOT NULL,
    scenario        TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    summary         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    commander_name  TEXT NOT NULL,
    commander_email TEXT NOT NULL,
    opened_at       TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    resolved_at     TIMESTAMPTZ,
    legal_hold      BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX incidents_by_status ON incidents (status, id);

CREATE TABLE incident_departments (
    incident_id     UUID NOT NULL REFERENCES incidents (id),
    department      TEXT NOT NULL,
    position        BIGINT NOT NULL,
    name            TEXT NOT NULL,
    head_name       TEXT NOT NULL,
    head_email      TEXT NOT NULL,
    deputies        JSONB NOT NULL,
    joined_at       TIMESTAMPTZ NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by TEXT,
    PRIMARY KEY (incident_id, department)
);

CREATE TABLE tasks (
    id                 UUID PRIMARY KEY,
    incident_id        UUID NOT NULL,
    department         TEXT NOT NULL,
    position           BIGINT NOT NULL,
    key                TEXT NOT NULL,
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    required           BOOLEAN NOT NULL,
    depends_on         JSONB NOT NULL,
    ack_within_ms      BIGINT NOT NULL,
    complete_within_ms BIGINT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'done', 'skipped')),
    ack_due_at         TIMESTAMPTZ NOT NULL,
    due_at             TIMESTAMPTZ,
    acknowledged_at    TIMESTAMPTZ,
    acknowledged_by    TEXT,
    closed_at          TIMESTAMPTZ,
    closed_by          TEXT,
    note               TEXT,
    UNIQUE (incident_id, key),
    FOREIGN KEY (incident_id, department) REFERENCES incident_departments (incident_id, department)
);

CREATE INDEX tasks_by_incident ON tasks (incident_id, position);

-- The timeline. Append-only: the trigger below refuses any rewrite. The one
-- sanctioned deletion is the retention purge of a closed incident, which sets
-- `tocsin.purge` for its own transaction only (SET LOCAL); UPDATE and
-- TRUNCATE are refused always.
CREATE TABLE events (
    incident_id UUID NOT NULL REFERENCES incidents (id),
    seq         BIGINT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    data        JSONB NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tocsin.purge', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'timeline events are append-only';
END;
$$;

CREATE TRIGGER events_are_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

CREATE TABLE api_tokens (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('responder', 'legal', 'admin')),
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

CREATE TABLE idempotency_keys (
    token_id    UUID NOT NULL REFERENCES api_tokens (id),
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    incident_id UUID NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (token_id, key)
);
