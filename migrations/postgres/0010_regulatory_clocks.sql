-- Regulatory clocks. An incident keeps what legal recorded of them (the
-- facts claimed, the regimes armed with their rules as the playbooks said,
-- each step's clock and filings) as one JSON document: it is read and
-- written whole with its incident, and every change is also on the chain.
ALTER TABLE incidents ADD COLUMN regulatory JSONB NOT NULL DEFAULT '{}';

-- A regulatory step is chased like an item, on timers with a third purpose.
-- `clock` names it (`regime/step`) and `deadline_at` is the deadline the
-- timer was set for: when a new claim moves the deadline, the old timer
-- stops and the new one takes over.
ALTER TABLE timers DROP CONSTRAINT timers_purpose_check;
ALTER TABLE timers ADD COLUMN clock TEXT;
ALTER TABLE timers ADD COLUMN deadline_at TIMESTAMPTZ;
ALTER TABLE timers ADD CONSTRAINT timers_purpose_check
    CHECK (purpose IN ('acknowledge', 'complete', 'report'));
ALTER TABLE timers ADD CONSTRAINT timers_clock_check
    CHECK ((purpose = 'report') = (clock IS NOT NULL AND deadline_at IS NOT NULL));

-- The soonest regulatory deadline still to be answered, kept with every
-- write: the dashboard and the metrics find running clocks through it
-- without reading every incident. A deadline may outlive the incident's
-- resolution, so it is not tied to the open ones.
ALTER TABLE incidents ADD COLUMN next_deadline_at TIMESTAMPTZ;
CREATE INDEX incidents_with_clocks ON incidents (next_deadline_at) WHERE next_deadline_at IS NOT NULL;
