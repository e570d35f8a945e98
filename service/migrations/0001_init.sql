-- mybox schema: users, tokens, files, upload sessions (the expiry-column table) and parts.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- usernames are unique regardless of case ("Alice" and "alice" are one account)
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
CREATE INDEX api_tokens_expires_idx ON api_tokens (expires_at);

CREATE TABLE files (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text NOT NULL,
    size             bigint NOT NULL CHECK (size >= 0),
    content_type     text NOT NULL,
    status           text NOT NULL CHECK (status IN
                       ('uploading', 'verifying', 'available', 'aborted', 'corrupt', 'deleted', 'restoring')),
    tier             text NOT NULL DEFAULT 'hot' CHECK (tier IN ('hot', 'cold')),
    object_key       text NOT NULL UNIQUE,
    sha256           text,             -- the checksum of the stored bytes, once known
    declared_sha256  text,             -- what the client declared, if anything
    thumbnail_key    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    uploaded_at      timestamptz,
    last_accessed_at timestamptz,
    deleted_at       timestamptz,
    purged_at        timestamptz       -- when the object (and thumbnail) left storage
);
-- listing: newest first per user, keyset on (created_at, id)
CREATE INDEX files_user_created_idx ON files (user_id, created_at DESC, id DESC);
CREATE INDEX files_user_visible_idx ON files (user_id, created_at DESC, id DESC)
    WHERE status IN ('available', 'verifying', 'corrupt', 'restoring');
-- sweeps: deleted objects still to purge, tiering candidates
CREATE INDEX files_purge_idx ON files (deleted_at) WHERE status IN ('deleted', 'aborted', 'corrupt') AND purged_at IS NULL;
CREATE INDEX files_tiering_idx ON files (coalesce(last_accessed_at, uploaded_at)) WHERE status = 'available' AND tier = 'hot';

CREATE TABLE upload_sessions (
    file_id      uuid PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    s3_upload_id text NOT NULL,
    part_size    bigint NOT NULL,
    part_count   integer NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_sessions_expires_idx ON upload_sessions (expires_at);

CREATE TABLE upload_parts (
    file_id      uuid NOT NULL REFERENCES upload_sessions (file_id) ON DELETE CASCADE,
    part_number  integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    etag         text NOT NULL,
    size         bigint NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, part_number)
);
