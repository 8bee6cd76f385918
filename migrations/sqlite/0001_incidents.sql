-- Incidents, the departments they engage, their tasks and their timeline.
-- Department and task rows are snapshots of the playbooks at the time they
-- joined the incident: editing the playbook files never rewrites them.

CREATE TABLE incidents (
    id              BLOB PRIMARY KEY,      -- UUIDv7: ordered by opening time
    reference       TEXT NOT NULL,
    title           TEXT NOT NULL,
    scenario        TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    summary         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    commander_name  TEXT NOT NULL,
    commander_email TEXT NOT NULL,
    opened_at       TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    resolved_at     TEXT,
    legal_hold      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX incidents_by_status ON incidents (status, id);

CREATE TABLE incident_departments (
    incident_id     BLOB NOT NULL REFERENCES incidents (id),
    department      TEXT NOT NULL,
    position        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    head_name       TEXT NOT NULL,
    head_email      TEXT NOT NULL,
    deputies        TEXT NOT NULL,         -- JSON array of {name, email}
    joined_at       TEXT NOT NULL,      -- when the department was asked
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    PRIMARY KEY (incident_id, department)
) STRICT;

CREATE TABLE tasks (
    id                 BLOB PRIMARY KEY,
    incident_id        BLOB NOT NULL,
    department         TEXT NOT NULL,
    position           INTEGER NOT NULL,
    key                TEXT NOT NULL,      -- department/item
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    required           INTEGER NOT NULL,
    depends_on         TEXT NOT NULL,      -- JSON array of task ids
    ack_within_ms      INTEGER NOT NULL,
    complete_within_ms INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'done', 'skipped')),
    ack_due_at         TEXT NOT NULL,
    due_at             TEXT,
    acknowledged_at    TEXT,
    acknowledged_by    TEXT,
    closed_at          TEXT,
    closed_by          TEXT,
    note               TEXT,
    UNIQUE (incident_id, key),
    FOREIGN KEY (incident_id, department) REFERENCES incident_departments (incident_id, department)
) STRICT;

CREATE INDEX tasks_by_incident ON tasks (incident_id, position);

-- The timeline. Append-only: the triggers below refuse any rewrite. The one
-- sanctioned deletion is the retention purge of a closed incident, which
-- first records a grant for that incident in `purge_grants`, in the same
-- transaction, and removes it after.
CREATE TABLE events (
    incident_id BLOB NOT NULL REFERENCES incidents (id),
    seq         INTEGER NOT NULL,          -- gapless per incident, from 1
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL,             -- JSON
    prev_hash   TEXT NOT NULL,             -- the previous event's hash (genesis for seq 1)
    hash        TEXT NOT NULL,             -- SHA-256 of this event's canonical form
    PRIMARY KEY (incident_id, seq)
) STRICT;

CREATE TABLE purge_grants (
    incident_id BLOB PRIMARY KEY
) STRICT;

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'timeline events are append-only');
END;

CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM purge_grants WHERE purge_grants.incident_id = OLD.incident_id)
BEGIN
    SELECT RAISE(ABORT, 'timeline events are append-only');
END;

-- API tokens: only a SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('responder', 'legal', 'admin')),
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

-- A retried trigger with the same Idempotency-Key returns the same incident.
CREATE TABLE idempotency_keys (
    token_id    BLOB NOT NULL REFERENCES api_tokens (id),
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    incident_id BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (token_id, key)
) STRICT;
