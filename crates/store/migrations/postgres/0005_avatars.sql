-- Avatars: each extension's photo as read from Graph (bytes, content type, @odata.mediaEtag).
-- The etag is also kept on the extension (photo_etag), which the photos job compares with
-- Graph's; the row goes with its extension.
CREATE TABLE avatars (
    site_id      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    content_type TEXT NOT NULL,
    etag         TEXT NOT NULL,
    bytes        BYTEA NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, user_id),
    FOREIGN KEY (site_id, user_id) REFERENCES extensions (site_id, user_id) ON DELETE CASCADE
);
