-- Briefings: a statement or an internal update sent to an audience of the
-- playbooks. The incident keeps each briefing's summary (what was sent, to
-- which audience, approved or not) in its JSON like its statements; the
-- recipients, thousands for an all-staff briefing, are rows of their own,
-- so that reading or writing the incident never carries them.
ALTER TABLE incidents ADD COLUMN briefings JSONB NOT NULL DEFAULT '[]';

CREATE TABLE briefing_recipients (
    briefing_id  UUID NOT NULL,
    email        TEXT NOT NULL,
    incident_id  UUID NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,  -- purged with it
    name         TEXT NOT NULL,
    department   TEXT NOT NULL,           -- the organisation's, for the share per department
    confirmed_at TIMESTAMPTZ,             -- NULL until they confirm they have read it
    PRIMARY KEY (briefing_id, email)
);
CREATE INDEX briefing_recipients_by_incident ON briefing_recipients (incident_id);

-- A briefing's messages are counted per briefing, not listed with the
-- incident's own; its links confirm reading it.
ALTER TABLE outbox ADD COLUMN briefing_id UUID;
CREATE INDEX outbox_own_by_incident ON outbox (incident_id) WHERE briefing_id IS NULL;
CREATE INDEX outbox_by_briefing ON outbox (briefing_id) WHERE briefing_id IS NOT NULL;
ALTER TABLE link_tokens ADD COLUMN briefing_id UUID;

-- Recipients are written when a briefing goes out and when each confirms.
GRANT SELECT, INSERT, UPDATE ON briefing_recipients TO tocsin_runtime;
