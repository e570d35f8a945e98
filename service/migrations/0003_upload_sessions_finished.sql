-- uploads: a session is "open" until it is completed or aborted. The expiry sweep only looks
-- at open sessions, so finished ones (kept for GET /files/{id}/upload) never slow it down.
ALTER TABLE upload_sessions ADD COLUMN finished_at timestamptz;
CREATE INDEX upload_sessions_open_expires_idx ON upload_sessions (expires_at) WHERE finished_at IS NULL;
