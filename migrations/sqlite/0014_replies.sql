-- Replies by mail (issue 18). A reply key is a link's twin: the same scope
-- (recipient, incident, department or item), stored hashed in the same
-- table, revoked and expired with the links of its message; `kind` keeps
-- the two apart, so that a key read in a Message-ID never opens a link
-- page, nor a link's secret acts by mail.
ALTER TABLE link_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'link'
    CHECK (kind IN ('link', 'reply'));

-- A bounce marks the message it returns; the console and the API show it.
ALTER TABLE outbox ADD COLUMN bounced_at TEXT;

-- Each inbound message acts once, whichever intake brings it and however
-- often: its key (the Message-ID, or the SHA-256 of the bytes) is claimed
-- in the transaction that writes what it did.
CREATE TABLE inbound_messages (
    dedup_key   TEXT PRIMARY KEY,
    incident_id BLOB NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,  -- purged with it
    received_at TEXT NOT NULL
) STRICT;
CREATE INDEX inbound_messages_by_incident ON inbound_messages (incident_id);
