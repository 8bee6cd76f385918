-- Reads that cost the same in a year as on the first day: every query on a
-- request path, or run by a worker every pass, is bounded by an index by
-- what it returns (tests: store/sql/plans.rs).

-- An incident's pending timers (its chase board), not every pending timer.
CREATE INDEX timers_pending_by_incident ON timers (incident_id, due_at) WHERE status = 'pending';

-- An incident's events of one kind (`chased`), not all its events.
CREATE INDEX events_by_kind ON events (incident_id, kind, seq);

-- The incident list, filtered by severity, with or without status.
CREATE INDEX incidents_by_severity ON incidents (severity, id);
CREATE INDEX incidents_by_status_severity ON incidents (status, severity, id);

-- The retention purge: resolved incidents by resolution time, and the rows
-- it deletes by incident.
CREATE INDEX incidents_by_status_resolved ON incidents (status, resolved_at);
CREATE INDEX link_tokens_by_incident ON link_tokens (incident_id);
-- Deleting a message checks that no link still refers to it.
CREATE INDEX link_tokens_by_message ON link_tokens (message_id);
CREATE INDEX idempotency_keys_by_incident ON idempotency_keys (incident_id);
