-- The transactional outbox: every message is written in the same
-- transaction as the change that causes it, and delivered after commit by
-- whichever worker claims it. Rows are never deleted: they are the record
-- of what was sent.
CREATE TABLE outbox (
    id              BLOB PRIMARY KEY,      -- UUIDv7, also the message's stable id
    incident_id     BLOB NOT NULL REFERENCES incidents (id),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       TEXT NOT NULL,         -- an email address, or a webhook endpoint's name
    department      TEXT,                  -- whose links the message carries
    notice          TEXT NOT NULL,         -- JSON: what to say
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claim_id        BLOB,                  -- the worker holding it, until claimed_until
    claimed_until   TEXT,
    last_error      TEXT,
    receipt         TEXT,                  -- the SMTP reply or HTTP status
    created_at      TEXT NOT NULL,
    sent_at         TEXT
) STRICT;

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_incident ON outbox (incident_id);

-- Links in emails. Only the SHA-256 of each link's secret is kept; a link is
-- scoped to one recipient, one incident and one task or department.
CREATE TABLE link_tokens (
    secret_hash TEXT PRIMARY KEY,
    incident_id BLOB NOT NULL REFERENCES incidents (id),
    department  TEXT NOT NULL,
    task_id     BLOB,                      -- NULL: the department as a whole
    recipient   TEXT NOT NULL,
    message_id  BLOB NOT NULL REFERENCES outbox (id),
    created_at  TEXT NOT NULL
) STRICT;
