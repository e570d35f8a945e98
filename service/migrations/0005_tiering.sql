-- Tiering: a copy left behind in the other tier after a move (deleted by the next run if the
-- move's last step did not finish), when the tier last changed, and restore bookkeeping.
ALTER TABLE files ADD COLUMN stale_tier text CHECK (stale_tier IN ('hot', 'cold'));
ALTER TABLE files ADD COLUMN tier_changed_at timestamptz;
ALTER TABLE files ADD COLUMN restore_requested_at timestamptz;
CREATE INDEX files_stale_tier_idx ON files (id) WHERE stale_tier IS NOT NULL;
CREATE INDEX files_restoring_idx ON files (restore_requested_at) WHERE status = 'restoring';
