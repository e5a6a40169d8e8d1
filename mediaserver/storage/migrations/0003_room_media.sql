-- 0003: per-room media policy for the conference bridge.
ALTER TABLE rooms ADD COLUMN video_codec TEXT NOT NULL DEFAULT 'vp8' CHECK (video_codec IN ('vp8', 'h264'));
ALTER TABLE rooms ADD COLUMN audible_sites INTEGER NOT NULL DEFAULT 3 CHECK (audible_sites BETWEEN 1 AND 8);
