-- Per-site leases: which pbx365 node runs a site's sync work, until when.
CREATE TABLE site_leases (
    site_id     TEXT PRIMARY KEY REFERENCES sites (site_id) ON DELETE CASCADE,
    holder      TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
