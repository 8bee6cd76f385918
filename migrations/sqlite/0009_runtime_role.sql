-- PostgreSQL's 0009 separates the owner role from the runtime role. SQLite
-- has no roles: whoever can open the file can do anything to it, and the
-- file's permissions are what protect it. Nothing to change; this keeps
-- the two engines' schema versions in step.
SELECT 1;
