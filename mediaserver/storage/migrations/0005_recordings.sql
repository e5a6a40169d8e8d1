-- 0005: recordings and the motion index — what a segment holds, motion marking, zones, evidence holds, exports.

-- 'video' / 'audio' / 'screen' (a meeting site's tracks) or 'video' (a camera stream).
ALTER TABLE recording_segments ADD COLUMN track TEXT NOT NULL DEFAULT 'video';
ALTER TABLE recording_segments ADD COLUMN codec TEXT NOT NULL DEFAULT 'h264';
-- The recording mode in force when the segment was written (decides which retention rule applies).
ALTER TABLE recording_segments ADD COLUMN mode TEXT NOT NULL DEFAULT 'continuous'
    CHECK (mode IN ('continuous', 'motion', 'conference'));
-- 1 when motion (with its pre/post padding) overlaps the segment: kept for motion_retain_days.
ALTER TABLE recording_segments ADD COLUMN has_motion INTEGER NOT NULL DEFAULT 0;
-- 1 when the previous segment of this stream did not end where this one starts (an outage or restart).
ALTER TABLE recording_segments ADD COLUMN gap_before INTEGER NOT NULL DEFAULT 0;
CREATE INDEX recording_segments_camera_end ON recording_segments(camera_id, end_at);

-- Zones an event touched, one row each, so a zone search uses an index instead of scanning JSON.
CREATE TABLE motion_event_zones (
    event_id  INTEGER NOT NULL REFERENCES motion_events(id) ON DELETE CASCADE,
    camera_id TEXT NOT NULL,
    zone      TEXT NOT NULL,
    start_at  REAL NOT NULL,
    PRIMARY KEY (event_id, zone)
);
CREATE INDEX motion_event_zones_lookup ON motion_event_zones(camera_id, zone, start_at);
CREATE INDEX motion_events_camera_end ON motion_events(camera_id, end_at);

-- An evidence hold protects every segment of a camera overlapping [start_at, end_at] from any deletion.
CREATE TABLE evidence_holds (
    id          INTEGER PRIMARY KEY,
    camera_id   TEXT NOT NULL REFERENCES cameras(id),
    start_at    REAL NOT NULL,
    end_at      REAL NOT NULL CHECK (end_at >= start_at),
    reason      TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    released_at REAL
);
CREATE INDEX evidence_holds_camera ON evidence_holds(camera_id, start_at);

CREATE TABLE exports (
    id          TEXT PRIMARY KEY,
    camera_id   TEXT NOT NULL REFERENCES cameras(id),
    start_at    REAL NOT NULL,
    end_at      REAL NOT NULL CHECK (end_at > start_at),
    status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress    REAL NOT NULL DEFAULT 0,
    path        TEXT,
    bytes       INTEGER,
    sha256      TEXT,
    hold_id     INTEGER REFERENCES evidence_holds(id),
    error       TEXT,
    created_by  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX exports_created ON exports(created_at);
