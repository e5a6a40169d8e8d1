-- 0017: an export's file is on the node that ran it, as a segment's is on the node that recorded it (issue 16).
-- NULL = the single node of a set-up without a cluster (and every export made before this migration).
ALTER TABLE exports ADD COLUMN node_id TEXT;
