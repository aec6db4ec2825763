-- The change log: which extensions and contacts changed, in commit order, so that the directory
-- index patches itself instead of rebuilding. One row per object (its latest change), so the log
-- stays as large as the set of objects ever seen; written in the same transaction as the change.
CREATE TABLE change_counters (
    site_id TEXT PRIMARY KEY REFERENCES sites (site_id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL
);

CREATE TABLE change_log (
    site_id TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('contact', 'extension')),
    id      TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (site_id, kind, id)
);
CREATE INDEX change_log_seq ON change_log (site_id, seq);

-- Credentials pbx365 issues to phones (per extension or per phone group): never a Microsoft
-- password. Only a salted SHA-256 of the secret is kept; the secret is shown once.
CREATE TABLE credentials (
    site_id        TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    username       TEXT NOT NULL,
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('extension', 'phone_group')),
    principal      TEXT NOT NULL,
    salt           TEXT NOT NULL,
    secret_hash    TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    PRIMARY KEY (site_id, username)
);
