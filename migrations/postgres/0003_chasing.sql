-- Chasing: each timer is a row with a due time, so reminders and
-- escalations survive restarts and are shared by every replica. A timer
-- climbs a ladder: stage 0 reminds the head, 1 escalates to the deputies,
-- 2 to the incident's commander. `version` changes at every step, so a
-- worker holding a stale copy cannot act on it.
CREATE TABLE timers (
    id          UUID PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents (id),
    department  TEXT NOT NULL,
    task_id     UUID,
    purpose     TEXT NOT NULL CHECK (purpose IN ('acknowledge', 'complete')),
    stage       BIGINT NOT NULL,
    due_at      TIMESTAMPTZ NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
    version     BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX timers_due ON timers (status, due_at);
CREATE INDEX timers_by_incident ON timers (incident_id);
