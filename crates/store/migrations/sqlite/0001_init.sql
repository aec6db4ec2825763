-- pbx365 schema, SQLite. Every table carries site_id; timestamps are UTC (RFC 3339 text).

CREATE TABLE sites (
    site_id    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Extension numbers allocated to users; kept across renames and re-syncs.
CREATE TABLE extension_numbers (
    site_id      TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    number       TEXT NOT NULL,
    num          INTEGER NOT NULL,
    allocated_at TEXT NOT NULL,
    PRIMARY KEY (site_id, user_id),
    UNIQUE (site_id, num),
    UNIQUE (site_id, user_id, number)
);

-- Numbers taken outside pbx365: never allocated.
CREATE TABLE reserved_numbers (
    site_id     TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    num         INTEGER NOT NULL,
    reserved_at TEXT NOT NULL,
    PRIMARY KEY (site_id, num)
);

-- Freed numbers: not allocated again before their quarantine ends.
CREATE TABLE released_numbers (
    site_id  TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    num      INTEGER NOT NULL,
    user_id  TEXT NOT NULL,
    freed_at TEXT NOT NULL,
    PRIMARY KEY (site_id, num)
);
CREATE INDEX released_numbers_user ON released_numbers (site_id, user_id);

CREATE TABLE extensions (
    site_id            TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL,
    number             TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    given_name         TEXT,
    surname            TEXT,
    email              TEXT,
    department         TEXT,
    job_title          TEXT,
    outbound_caller_id TEXT,
    enabled            BOOLEAN NOT NULL,
    photo_etag         TEXT,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (site_id, user_id),
    FOREIGN KEY (site_id, user_id, number)
        REFERENCES extension_numbers (site_id, user_id, number) ON DELETE CASCADE
);

CREATE TABLE contacts (
    site_id       TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    scope         TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    phonebook     TEXT NOT NULL CHECK (phonebook IN ('personal', 'company', 'directory')),
    owner_user_id TEXT,
    source        TEXT NOT NULL CHECK (source IN ('personal_outlook', 'shared_mailbox', 'org_contact')),
    mailbox       TEXT,
    folder_id     TEXT,
    display_name  TEXT NOT NULL,
    given_name    TEXT,
    surname       TEXT,
    company       TEXT,
    department    TEXT,
    job_title     TEXT,
    emails        TEXT NOT NULL,
    change_key    TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (site_id, id),
    UNIQUE (site_id, scope, source_id),
    CHECK ((phonebook = 'personal') = (owner_user_id IS NOT NULL)),
    CHECK ((source = 'shared_mailbox') = (mailbox IS NOT NULL))
);
CREATE INDEX contacts_phonebook ON contacts (site_id, phonebook, owner_user_id);

-- Every number of contacts and extensions: the text as typed and its E.164 form.
CREATE TABLE phone_numbers (
    site_id    TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('contact', 'extension')),
    owner_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('business', 'mobile', 'home', 'fax', 'other')),
    raw        TEXT NOT NULL,
    e164       TEXT,
    invalid    BOOLEAN NOT NULL,
    PRIMARY KEY (site_id, owner_kind, owner_id, position),
    CHECK ((e164 IS NULL) = invalid)
);
CREATE INDEX phone_numbers_e164 ON phone_numbers (site_id, e164);

CREATE TABLE delta_tokens (
    site_id    TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    token      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id, scope)
);

CREATE TABLE jobs (
    id         TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    trigger    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at TEXT NOT NULL,
    ended_at   TEXT,
    counts     TEXT NOT NULL,
    requests   INTEGER NOT NULL,
    throttled  INTEGER NOT NULL,
    warnings   INTEGER NOT NULL,
    errors     INTEGER NOT NULL
);
CREATE INDEX jobs_site ON jobs (site_id, started_at);

CREATE TABLE job_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      TEXT NOT NULL,
    line    TEXT NOT NULL
);
CREATE INDEX job_log_job ON job_log (job_id, id);

CREATE TABLE pending_deletions (
    site_id     TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    target      TEXT NOT NULL CHECK (target IN ('contact', 'extension')),
    source_id   TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (site_id, job_id, scope, target, source_id)
);
