-- Staff of the web console. No passwords: people sign in through a
-- one-time link sent by email. Only hashes of link and session secrets are kept.
CREATE TABLE users (
    id         UUID PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('responder', 'legal', 'admin')),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE sign_in_links (
    secret_hash TEXT PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);

CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
