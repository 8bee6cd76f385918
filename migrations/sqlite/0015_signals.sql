-- Signals: alerts from monitoring and social-listening tools.
--
-- One row per (source, dedup_key): the incident the key last opened or
-- joined. A signal claims its key in the transaction that opens the
-- incident (an upsert that only takes the key over from a resolved
-- incident), so concurrent posts with one key, on any replica, open one
-- incident between them: the losers find the key held and join it.
CREATE TABLE signal_keys (
    source      TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    incident_id BLOB NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,  -- purged with it
    claimed_at  TEXT NOT NULL,
    PRIMARY KEY (source, dedup_key)
) STRICT;
CREATE INDEX signal_keys_by_incident ON signal_keys (incident_id);

-- Signals the playbooks say to ask the commander about before anyone is
-- woken. The row is also the commander's mail, as the outbox row would be
-- (written with the signal, delivered after commit by a claiming worker):
-- the link's secret is minted at sending, and only its SHA-256 kept. One
-- waits per key: repeats while it waits join it rather than mail again.
CREATE TABLE signal_confirmations (
    id              BLOB PRIMARY KEY,      -- UUIDv7
    source          TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT,
    link            TEXT,
    scenario        TEXT NOT NULL,
    severity        TEXT NOT NULL,
    rule            INTEGER,                   -- the matching rule, from 1; NULL for the default
    commander       TEXT NOT NULL,         -- the address the link is mailed to
    received_at     TEXT NOT NULL,
    received_by     TEXT NOT NULL,
    repeats         INTEGER NOT NULL DEFAULT 0,  -- later signals with the key while it waited
    -- The mail: due at mail_due_at, held by one worker until mail_claimed_until.
    mail_due_at     TEXT,            -- NULL once sent or given up on
    mail_claimed_until TEXT,
    mail_attempts   INTEGER NOT NULL DEFAULT 0,
    mail_error      TEXT,
    mailed_at       TEXT,
    secret_hash     TEXT UNIQUE,           -- the mailed link's, once sent
    confirmed_at    TEXT,
    confirmed_by    TEXT,
    incident_id     BLOB REFERENCES incidents (id) ON DELETE SET NULL  -- what confirming opened or joined
) STRICT;
CREATE UNIQUE INDEX signal_confirmations_waiting ON signal_confirmations (source, dedup_key)
    WHERE confirmed_at IS NULL;
-- Purging an incident clears what its confirmation points at.
CREATE INDEX signal_confirmations_by_incident ON signal_confirmations (incident_id);
CREATE INDEX signal_confirmations_mail_due ON signal_confirmations (mail_due_at)
    WHERE mail_due_at IS NOT NULL;
