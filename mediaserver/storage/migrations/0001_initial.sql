-- 0001: people, conference and camera inventory, audit log.
-- All times are UTC seconds since the epoch (REAL); the UI converts to the configured zone.

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    password_hash        TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'security', 'participant')),
    must_change_password INTEGER NOT NULL DEFAULT 0,
    disabled             INTEGER NOT NULL DEFAULT 0,
    created_at           REAL NOT NULL,
    password_changed_at  REAL NOT NULL
);

-- Every bearer token we sign is recorded so it can be listed and revoked before it expires.
CREATE TABLE api_tokens (
    jti        TEXT PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'join')),
    role       TEXT NOT NULL,
    site_id    TEXT,
    room_id    TEXT,
    issued_at  REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL,
    label      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE INDEX api_tokens_expires ON api_tokens(expires_at);

CREATE TABLE sites (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_en    TEXT,
    role       TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('config', 'api')),
    active     INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE rooms (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    host_site_id TEXT NOT NULL REFERENCES sites(id),
    all_sites    INTEGER NOT NULL DEFAULT 1,
    max_sites    INTEGER NOT NULL,
    auto_record  INTEGER NOT NULL DEFAULT 0,
    locked       INTEGER NOT NULL DEFAULT 0,
    source       TEXT NOT NULL CHECK (source IN ('config', 'api')),
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL
);

CREATE TABLE room_members (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, site_id)
);

-- One row per meeting held in a room, and one per site connection during it.
CREATE TABLE room_sessions (
    id         INTEGER PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    started_at REAL NOT NULL,
    ended_at   REAL,
    started_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX room_sessions_room ON room_sessions(room_id, started_at);

CREATE TABLE site_sessions (
    id              INTEGER PRIMARY KEY,
    room_session_id INTEGER NOT NULL REFERENCES room_sessions(id) ON DELETE CASCADE,
    site_id         TEXT NOT NULL REFERENCES sites(id),
    joined_at       REAL NOT NULL,
    left_at         REAL,
    leave_reason    TEXT
);
CREATE INDEX site_sessions_room_session ON site_sessions(room_session_id);

CREATE TABLE cameras (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('config', 'api')),
    active     INTEGER NOT NULL DEFAULT 1,
    -- What ONVIF onboarding learned (model, profiles, stream URIs without credentials, PTZ, clock offset).
    info_json  TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE camera_outages (
    id         INTEGER PRIMARY KEY,
    camera_id  TEXT NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
    started_at REAL NOT NULL,
    ended_at   REAL,
    reason     TEXT NOT NULL
);
CREATE INDEX camera_outages_camera ON camera_outages(camera_id, started_at);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    actor       TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    detail_json TEXT NOT NULL DEFAULT '{}',
    remote      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);
