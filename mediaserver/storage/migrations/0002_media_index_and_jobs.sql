-- 0002: the media index (recorded segments, motion events) and the shared scheduler's jobs and runs.

-- A segment belongs to a camera stream or to one site's track in a recorded meeting.
CREATE TABLE recording_segments (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT REFERENCES cameras(id),
    stream          TEXT NOT NULL DEFAULT 'main',
    room_session_id INTEGER REFERENCES room_sessions(id),
    site_id         TEXT REFERENCES sites(id),
    path            TEXT NOT NULL UNIQUE,
    start_at        REAL NOT NULL,
    end_at          REAL NOT NULL CHECK (end_at >= start_at),
    bytes           INTEGER NOT NULL CHECK (bytes >= 0),
    keyframes       INTEGER NOT NULL DEFAULT 0,
    motion_score    REAL NOT NULL DEFAULT 0,
    heatmap         BLOB,
    CHECK ((camera_id IS NOT NULL) <> (room_session_id IS NOT NULL))
);
CREATE INDEX recording_segments_camera_time ON recording_segments(camera_id, stream, start_at);
CREATE INDEX recording_segments_session ON recording_segments(room_session_id, site_id, start_at);
CREATE INDEX recording_segments_start ON recording_segments(start_at);

CREATE TABLE motion_events (
    id             INTEGER PRIMARY KEY,
    camera_id      TEXT NOT NULL REFERENCES cameras(id),
    start_at       REAL NOT NULL,
    end_at         REAL,
    peak_score     REAL NOT NULL DEFAULT 0,
    zones_json     TEXT NOT NULL DEFAULT '[]',
    boxes_json     TEXT NOT NULL DEFAULT '[]',
    thumbnail_path TEXT
);
CREATE INDEX motion_events_camera_time ON motion_events(camera_id, start_at);
CREATE INDEX motion_events_time ON motion_events(start_at);

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    action      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('once', 'interval', 'cron')),
    -- 'once': ISO time; 'interval': seconds; 'cron': five-field expression.
    spec        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    grace_s     REAL NOT NULL,
    args_json   TEXT NOT NULL DEFAULT '{}',
    enabled     INTEGER NOT NULL DEFAULT 1,
    source      TEXT NOT NULL CHECK (source IN ('config', 'api', 'system')),
    next_run_at REAL,
    last_run_at REAL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX jobs_next_run ON jobs(enabled, next_run_at);

CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY,
    job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    scheduled_for REAL NOT NULL,
    started_at    REAL NOT NULL,
    ended_at      REAL,
    outcome       TEXT NOT NULL
        CHECK (outcome IN ('running', 'ok', 'error', 'timeout', 'missed', 'interrupted')),
    late_s        REAL NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX job_runs_job ON job_runs(job_id, started_at);
