-- 0007: an index for the retention sweep — each (mode, has_motion) rule of a camera is one index range scan
-- (without it, the "motion-mode segment without motion" rule, whose cutoff is a minute ago, scans every
-- segment of the camera on every sweep: seconds per sweep on a month of 50 cameras).
CREATE INDEX recording_segments_retention ON recording_segments(camera_id, mode, has_motion, end_at);
