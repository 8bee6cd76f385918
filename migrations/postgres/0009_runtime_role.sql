-- The database protects the record even from the application's own
-- credentials. Two roles: the owner, who runs these migrations and owns
-- every table, and `tocsin_runtime`, the group of the login role the
-- servers run as (deploy/postgres-roles.sql creates both). The runtime role
-- reads and writes rows, and nothing more: owning no table, it cannot
-- `ALTER TABLE ... DISABLE TRIGGER`, drop or truncate; it has no UPDATE or
-- DELETE on the timeline, the purge log or the audit log, even with the
-- purge's `tocsin.purge` setting on. The one way rows of the record go is
-- `purge_incident` below, which refuses incidents under legal hold.
--
-- Every table gets its grants here or in the migration that creates it:
-- tests/database_roles.rs fails on a table the runtime role cannot read.

-- Normally created beforehand by an administrator (deploy/postgres-roles.sql),
-- so that the owner needs no CREATEROLE. Roles belong to the whole cluster:
-- databases migrating at once may both find it missing, and one of them
-- then meets the other's row.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tocsin_runtime') THEN
        CREATE ROLE tocsin_runtime NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END;
$$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO tocsin_runtime', current_schema());
END;
$$;

-- Whether the schema is current (readiness, and the check at start).
GRANT SELECT ON _sqlx_migrations TO tocsin_runtime;

-- Incidents and what hangs off them: written whole at each change (upserts)
-- and locked with FOR UPDATE, which needs UPDATE. Never deleted but by the
-- purge.
GRANT SELECT, INSERT, UPDATE ON incidents, incident_departments, tasks TO tocsin_runtime;
GRANT SELECT, INSERT, UPDATE ON outbox, timers TO tocsin_runtime;
GRANT SELECT, INSERT ON idempotency_keys TO tocsin_runtime;
-- Links of a send attempt that failed are revoked (deleted) when the next
-- attempt mints new ones.
GRANT SELECT, INSERT, DELETE ON link_tokens TO tocsin_runtime;

-- The record: appended to, never rewritten. The purge log is written by
-- `purge_incident` alone, so that no purge goes unlogged.
GRANT SELECT, INSERT ON events TO tocsin_runtime;
GRANT SELECT ON purge_log TO tocsin_runtime;
GRANT SELECT, INSERT ON audit_log TO tocsin_runtime;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO tocsin_runtime;

-- Kept once, by the first replica to start.
GRANT SELECT, INSERT ON signing_keys, installation TO tocsin_runtime;

-- People. Only the columns the application changes: a token's secret or
-- role, a user's address, are never rewritten.
GRANT SELECT, INSERT ON api_tokens TO tocsin_runtime;
GRANT UPDATE (expires_at, last_used_at, revoked_at) ON api_tokens TO tocsin_runtime;
-- Removing a user removes their sign-in links and sessions.
GRANT SELECT, INSERT, DELETE ON users TO tocsin_runtime;
GRANT UPDATE (role) ON users TO tocsin_runtime;
GRANT SELECT, INSERT, DELETE ON sign_in_links TO tocsin_runtime;
GRANT UPDATE (used_at) ON sign_in_links TO tocsin_runtime;
GRANT SELECT, INSERT, DELETE ON sessions TO tocsin_runtime;

-- The retention purge of one resolved incident: logs it in the purge log,
-- then deletes its rows and its timeline, past the trigger that refuses
-- every other deletion. It runs as its owner (SECURITY DEFINER), so the
-- runtime role may call it without holding DELETE on the record; it checks
-- for itself, under the incident's lock, that the incident is resolved,
-- before `cutoff` and not under legal hold, and refuses otherwise.
-- `purged_at` is the caller's clock, as every other time tocsin records.
CREATE FUNCTION purge_incident(
    incident UUID,
    cutoff TIMESTAMPTZ,
    purged_at TIMESTAMPTZ DEFAULT now()
) RETURNS purge_log LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    target incidents%ROWTYPE;
    head_seq BIGINT;
    head_hash TEXT;
    logged purge_log%ROWTYPE;
BEGIN
    SELECT * INTO target FROM incidents WHERE id = incident FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no incident %', incident USING ERRCODE = 'no_data_found';
    END IF;
    IF target.legal_hold THEN
        RAISE EXCEPTION 'incident % is under legal hold: it cannot be purged', target.reference
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF target.status <> 'resolved' OR target.resolved_at IS NULL THEN
        RAISE EXCEPTION 'incident % is not resolved: it cannot be purged', target.reference
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF target.resolved_at >= cutoff THEN
        RAISE EXCEPTION 'incident % was resolved after the retention cutoff: it is kept',
            target.reference USING ERRCODE = 'insufficient_privilege';
    END IF;

    SELECT e.seq, e.hash INTO head_seq, head_hash
        FROM events e WHERE e.incident_id = incident ORDER BY e.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        -- The head of an empty chain (src/timeline/chain.rs, genesis_hash).
        head_seq := 0;
        head_hash := encode(sha256(convert_to('tocsin-genesis:v1:' || incident::text, 'UTF8')), 'hex');
    END IF;
    INSERT INTO purge_log (incident_id, reference, title, resolved_at, head_seq, head_hash,
                           events, purged_at)
        VALUES (incident, target.reference, target.title, target.resolved_at, head_seq,
                head_hash, head_seq, purge_incident.purged_at)
        RETURNING * INTO logged;

    PERFORM set_config('tocsin.purge', 'on', true);
    DELETE FROM link_tokens WHERE incident_id = incident;
    DELETE FROM outbox WHERE incident_id = incident;
    DELETE FROM timers WHERE incident_id = incident;
    DELETE FROM tasks WHERE incident_id = incident;
    DELETE FROM incident_departments WHERE incident_id = incident;
    DELETE FROM idempotency_keys WHERE incident_id = incident;
    DELETE FROM events WHERE incident_id = incident;
    DELETE FROM incidents WHERE id = incident;
    PERFORM set_config('tocsin.purge', 'off', true);
    RETURN logged;
END;
$$;

-- A SECURITY DEFINER function resolves names through the search path of
-- whoever calls it unless it carries its own: pinned to the schema it was
-- created in, with pg_temp last, so that a caller's temporary table cannot
-- stand in for one of ours.
DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION purge_incident(UUID, TIMESTAMPTZ, TIMESTAMPTZ) SET search_path = %I, pg_temp',
        current_schema()
    );
END;
$$;

REVOKE ALL ON FUNCTION purge_incident(UUID, TIMESTAMPTZ, TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_incident(UUID, TIMESTAMPTZ, TIMESTAMPTZ) TO tocsin_runtime;
