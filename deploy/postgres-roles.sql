-- tocsin's PostgreSQL roles: one that owns the schema, one that serves.
--
--   tocsin_owner    owns the database and every table; `tocsin migrate` runs
--                   as it (the Compose `migrate` service, the Kubernetes init
--                   container). Nothing else should use it.
--   tocsin_runtime  a group (NOLOGIN) holding the grants the migrations give
--                   it: read and write rows, nothing more. It owns nothing, so
--                   it cannot ALTER TABLE ... DISABLE TRIGGER, DROP or
--                   TRUNCATE; it cannot update or delete the timeline, the
--                   purge log or the audit log; the retention purge goes
--                   through purge_incident(), which refuses incidents under
--                   legal hold.
--   tocsin_app      the servers' login (`tocsin serve`), a member of
--                   tocsin_runtime. A server started with it does not migrate:
--                   it checks the schema is current, and stops if it is not.
--
-- Run it once, before the first `tocsin migrate`, as a role that may create
-- roles (the cluster's superuser; on a managed service, its admin role),
-- connected to tocsin's database (create it first: `createdb tocsin`):
--
--     psql "postgres://admin@db.example.internal/tocsin" \
--         -v owner_password="$(openssl rand -hex 24)" \
--         -v runtime_password="$(openssl rand -hex 24)" \
--         -f deploy/postgres-roles.sql
--
-- Without -v, the passwords come from the environment variables
-- OWNER_PASSWORD and RUNTIME_PASSWORD (psql 15 or later; the Compose file
-- does that). Running it again only sets the passwords again.
--
-- Roles belong to the whole cluster: every tocsin database on one cluster
-- shares tocsin_runtime. Give each its own cluster, or rename the login
-- roles here (tocsin_runtime is the name the migrations grant to).

\set ON_ERROR_STOP on

\if :{?owner_password}
\else
\getenv owner_password OWNER_PASSWORD
\endif
\if :{?runtime_password}
\else
\getenv runtime_password RUNTIME_PASSWORD
\endif
\if :{?owner_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'postgres-roles.sql: set owner_password (psql -v) or OWNER_PASSWORD'; END $$;
\endif
\if :{?runtime_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'postgres-roles.sql: set runtime_password (psql -v) or RUNTIME_PASSWORD'; END $$;
\endif

SELECT 'CREATE ROLE tocsin_owner LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tocsin_owner') \gexec
ALTER ROLE tocsin_owner PASSWORD :'owner_password';

SELECT 'CREATE ROLE tocsin_runtime NOLOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tocsin_runtime') \gexec

SELECT 'CREATE ROLE tocsin_app LOGIN IN ROLE tocsin_runtime'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tocsin_app') \gexec
ALTER ROLE tocsin_app PASSWORD :'runtime_password';

-- The owner owns the database and its schema, and is the only one who may
-- create anything in it (PostgreSQL before 15 let every role create tables
-- in `public`). The runtime role may connect; nobody else may.
SELECT format('ALTER DATABASE %I OWNER TO tocsin_owner', current_database()) \gexec
ALTER SCHEMA public OWNER TO tocsin_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO tocsin_runtime', current_database()) \gexec
GRANT USAGE ON SCHEMA public TO tocsin_runtime;

\echo 'tocsin roles ready: migrate as tocsin_owner, serve as tocsin_app'
