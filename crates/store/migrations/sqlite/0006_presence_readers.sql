-- Presence reader accounts: users signed in by device code whose delegated tokens create the
-- presence subscriptions (Graph allows them only on a user's behalf, ≤ 650 users each). The
-- refresh token is kept sealed (ChaCha20-Poly1305 under the store key; the nonce beside it),
-- replaced after every use (Entra rotates it); last_error says why it stopped working.
CREATE TABLE presence_readers (
    site_id     TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    reader_id   TEXT NOT NULL,
    upn         TEXT NOT NULL,
    ciphertext  BLOB NOT NULL,
    nonce       BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    last_error  TEXT,
    PRIMARY KEY (site_id, reader_id)
);
