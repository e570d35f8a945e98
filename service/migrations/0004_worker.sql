-- worker bookkeeping: a thumbnail that cannot be made is recorded once (not retried forever),
-- and reconciliation can find what is still pending after a lost job.
-- thumbnail_state: NULL = pending, 'done' (thumbnail_key set), 'none' (not an image or video),
-- 'failed' (undecodable, too many pixels, or gave up after repeated attempts; see thumbnail_error).
ALTER TABLE files
    ADD COLUMN thumbnail_state    text CHECK (thumbnail_state IN ('done', 'none', 'failed')),
    ADD COLUMN thumbnail_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN thumbnail_error    text,
    ADD COLUMN verify_attempts    integer NOT NULL DEFAULT 0;

-- reconciliation: available files still waiting for a thumbnail, files still lacking a checksum
CREATE INDEX files_thumbnail_pending_idx ON files (coalesce(uploaded_at, created_at))
    WHERE status = 'available' AND thumbnail_state IS NULL;
CREATE INDEX files_verify_pending_idx ON files (coalesce(uploaded_at, created_at))
    WHERE status IN ('available', 'verifying') AND sha256 IS NULL;
