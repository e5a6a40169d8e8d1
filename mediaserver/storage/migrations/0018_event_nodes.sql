-- 0018: a motion event's thumbnail (and its review snapshots) are on the disk of the node that analysed it, as a
-- segment's file is on the node that recorded it (issue 16): each node's retention deletes only its own.
-- NULL = the single node of a set-up without a cluster (and every event written before this migration).
ALTER TABLE motion_events ADD COLUMN node_id TEXT;
