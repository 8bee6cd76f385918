-- The transactional outbox: every message is written in the same
-- transaction as the change that causes it, and delivered after commit by
-- whichever worker claims it. Rows are never deleted: they are the record
-- of what was sent.
CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    incident_id     UUID NOT NULL REFERENCES incidents (id),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       TEXT NOT NULL,
    department      TEXT,
    notice          JSONB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claim_id        UUID,
    claimed_until   TIMESTAMPTZ,
    last_error      TEXT,
    receipt         TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_incident ON outbox (incident_id);

CREATE TABLE link_tokens (
    secret_hash TEXT PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents (id),
    department  TEXT NOT NULL,
    task_id     UUID,
    recipient   TEXT NOT NULL,
    message_id  UUID NOT NULL REFERENCES outbox (id),
    created_at  TIMESTAMPTZ NOT NULL
);
