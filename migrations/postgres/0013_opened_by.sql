-- Who opened each incident, as the timeline names actors (`token:ci`): mails
-- name them, not the default commander an API trigger falls back to.
-- Incidents opened before take it from their first event, which recorded it.
ALTER TABLE incidents ADD COLUMN opened_by TEXT NOT NULL DEFAULT '';
UPDATE incidents SET opened_by = COALESCE(
    (SELECT actor FROM events WHERE events.incident_id = incidents.id AND events.seq = 1), '');
