-- Regulatory clocks. An incident keeps what legal recorded of them (the
-- facts claimed, the regimes armed with their rules as the playbooks said,
-- each step's clock and filings) as one JSON document: it is read and
-- written whole with its incident, and every change is also on the chain.
ALTER TABLE incidents ADD COLUMN regulatory TEXT NOT NULL DEFAULT '{}';

-- A regulatory step is chased like an item, on timers with a third purpose.
-- `clock` names it (`regime/step`) and `deadline_at` is the deadline the
-- timer was set for: when a new claim moves the deadline, the old timer
-- stops and the new one takes over. SQLite cannot change a CHECK in place,
-- so the table is rebuilt.
CREATE TABLE timers_with_clocks (
    id          BLOB PRIMARY KEY,
    incident_id BLOB NOT NULL REFERENCES incidents (id),
    department  TEXT NOT NULL,
    task_id     BLOB,                      -- NULL: the department's acknowledgement, or a clock
    purpose     TEXT NOT NULL CHECK (purpose IN ('acknowledge', 'complete', 'report')),
    stage       INTEGER NOT NULL,
    due_at      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    clock       TEXT,
    deadline_at TEXT,
    CHECK ((purpose = 'report') = (clock IS NOT NULL AND deadline_at IS NOT NULL))
) STRICT;

INSERT INTO timers_with_clocks
    (id, incident_id, department, task_id, purpose, stage, due_at, status, version,
     created_at, updated_at)
SELECT id, incident_id, department, task_id, purpose, stage, due_at, status, version,
       created_at, updated_at
FROM timers;

DROP TABLE timers;
ALTER TABLE timers_with_clocks RENAME TO timers;

CREATE INDEX timers_due ON timers (status, due_at);
CREATE INDEX timers_by_incident ON timers (incident_id);
CREATE INDEX timers_pending_by_incident ON timers (incident_id, due_at) WHERE status = 'pending';

-- The soonest regulatory deadline still to be answered, kept with every
-- write: the dashboard and the metrics find running clocks through it
-- without reading every incident. A deadline may outlive the incident's
-- resolution, so it is not tied to the open ones.
ALTER TABLE incidents ADD COLUMN next_deadline_at TEXT;
CREATE INDEX incidents_with_clocks ON incidents (next_deadline_at) WHERE next_deadline_at IS NOT NULL;
