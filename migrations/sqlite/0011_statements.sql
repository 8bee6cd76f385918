-- Public statements. An incident keeps its statements (each version's
-- content and hash, the approvers asked, their answers, the publication) as
-- one JSON document, read and written whole with its incident like the
-- regulatory record; every change is also on the chain.
ALTER TABLE incidents ADD COLUMN statements TEXT NOT NULL DEFAULT '[]';

-- When the incident last published a statement, kept with every write: the
-- organisation's statement page and feed find incidents with published
-- statements through it, newest first, without reading every incident.
ALTER TABLE incidents ADD COLUMN last_published_at TEXT;
CREATE INDEX incidents_with_statements ON incidents (last_published_at)
    WHERE last_published_at IS NOT NULL;

-- An approval request is chased like an item, on timers with a fourth
-- purpose, naming the statement and the version asked about (an edit and a
-- new submission start new timers; the old ones stop). SQLite cannot change
-- a CHECK in place, so the table is rebuilt.
CREATE TABLE timers_with_statements (
    id                BLOB PRIMARY KEY,
    incident_id       BLOB NOT NULL REFERENCES incidents (id),
    department        TEXT NOT NULL,
    task_id           BLOB,                -- NULL: the department's acknowledgement, a clock, a statement
    purpose           TEXT NOT NULL CHECK (purpose IN ('acknowledge', 'complete', 'report', 'approve')),
    stage             INTEGER NOT NULL,
    due_at            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
    version           INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    clock             TEXT,
    deadline_at       TEXT,
    statement_id      BLOB,
    statement_version INTEGER,
    CHECK ((purpose = 'report') = (clock IS NOT NULL AND deadline_at IS NOT NULL)),
    CHECK ((purpose = 'approve') = (statement_id IS NOT NULL AND statement_version IS NOT NULL))
) STRICT;

INSERT INTO timers_with_statements
    (id, incident_id, department, task_id, purpose, stage, due_at, status, version,
     created_at, updated_at, clock, deadline_at)
SELECT id, incident_id, department, task_id, purpose, stage, due_at, status, version,
       created_at, updated_at, clock, deadline_at
FROM timers;

DROP TABLE timers;
ALTER TABLE timers_with_statements RENAME TO timers;

CREATE INDEX timers_due ON timers (status, due_at);
CREATE INDEX timers_by_incident ON timers (incident_id);
CREATE INDEX timers_pending_by_incident ON timers (incident_id, due_at) WHERE status = 'pending';

-- A link in an approval request acts on one statement for one department.
ALTER TABLE link_tokens ADD COLUMN statement_id BLOB;
