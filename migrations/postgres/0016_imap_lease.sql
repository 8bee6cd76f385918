-- Leases (issue 18): work that one replica at a time may do, such as
-- polling the IMAP mailbox of replies. The holder renews its row before
-- it expires; another replica takes the row over only once it has.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
-- Taken, renewed, and given up (deleted) on stop by the runtime role.
GRANT SELECT, INSERT, UPDATE, DELETE ON leases TO tocsin_runtime;
