-- Public statements. An incident keeps its statements (each version's
-- content and hash, the approvers asked, their answers, the publication) as
-- one JSON document, read and written whole with its incident like the
-- regulatory record; every change is also on the chain.
ALTER TABLE incidents ADD COLUMN statements JSONB NOT NULL DEFAULT '[]';

-- When the incident last published a statement, kept with every write: the
-- organisation's statement page and feed find incidents with published
-- statements through it, newest first, without reading every incident.
ALTER TABLE incidents ADD COLUMN last_published_at TIMESTAMPTZ;
CREATE INDEX incidents_with_statements ON incidents (last_published_at)
    WHERE last_published_at IS NOT NULL;

-- An approval request is chased like an item, on timers with a fourth
-- purpose, naming the statement and the version asked about (an edit and a
-- new submission start new timers; the old ones stop).
ALTER TABLE timers DROP CONSTRAINT timers_purpose_check;
ALTER TABLE timers ADD COLUMN statement_id UUID;
ALTER TABLE timers ADD COLUMN statement_version BIGINT;
ALTER TABLE timers ADD CONSTRAINT timers_purpose_check
    CHECK (purpose IN ('acknowledge', 'complete', 'report', 'approve'));
ALTER TABLE timers ADD CONSTRAINT timers_statement_check
    CHECK ((purpose = 'approve') = (statement_id IS NOT NULL AND statement_version IS NOT NULL));

-- A link in an approval request acts on one statement for one department.
ALTER TABLE link_tokens ADD COLUMN statement_id UUID;
