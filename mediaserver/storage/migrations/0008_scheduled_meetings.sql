-- 0008: scheduled meetings (lịch họp), their invited sites and roll call, chat, speaking requests; site e-mail;
-- rooms closed by the chair's End until staff or the next scheduled meeting reopen them.
ALTER TABLE sites ADD COLUMN email TEXT;
ALTER TABLE rooms ADD COLUMN closed_at REAL;  -- ended by the chair; a meeting scheduled to open later reopens it

CREATE TABLE meetings (
    id                 INTEGER PRIMARY KEY,
    room_id            TEXT NOT NULL REFERENCES rooms(id),
    title              TEXT NOT NULL,
    agenda             TEXT NOT NULL DEFAULT '',
    starts_at          REAL NOT NULL,
    ends_at            REAL NOT NULL CHECK (ends_at > starts_at),
    chair_site_id      TEXT NOT NULL REFERENCES sites(id),
    test_before_s      REAL NOT NULL DEFAULT 3600 CHECK (test_before_s >= 0),
    remind_before_s    REAL CHECK (remind_before_s IS NULL OR remind_before_s > 0),
    mode               TEXT NOT NULL DEFAULT 'free' CHECK (mode IN ('free', 'chaired')),
    cancelled          INTEGER NOT NULL DEFAULT 0,
    invitations_sent_at REAL,
    created_by         TEXT NOT NULL DEFAULT '',
    created_at         REAL NOT NULL,
    updated_at         REAL NOT NULL
);
CREATE INDEX meetings_room_time ON meetings(room_id, starts_at);
CREATE INDEX meetings_time ON meetings(starts_at);

CREATE TABLE meeting_sites (
    meeting_id     INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    site_id        TEXT NOT NULL REFERENCES sites(id),
    absence_reason TEXT,
    invited_at     REAL,
    invite_error   TEXT,
    PRIMARY KEY (meeting_id, site_id)
);

-- A held meeting (room session) belongs to at most one scheduled meeting.
ALTER TABLE room_sessions ADD COLUMN meeting_id INTEGER REFERENCES meetings(id);
CREATE INDEX room_sessions_meeting ON room_sessions(meeting_id);

CREATE TABLE chat_messages (
    id              INTEGER PRIMARY KEY,
    room_session_id INTEGER NOT NULL REFERENCES room_sessions(id) ON DELETE CASCADE,
    at              REAL NOT NULL,
    from_site       TEXT NOT NULL,
    to_site         TEXT,           -- NULL: everyone; else one site (the chair, or the chair's private reply)
    text            TEXT NOT NULL
);
CREATE INDEX chat_messages_session ON chat_messages(room_session_id, id);

CREATE TABLE speaking_requests (
    id              INTEGER PRIMARY KEY,
    room_session_id INTEGER NOT NULL REFERENCES room_sessions(id) ON DELETE CASCADE,
    site_id         TEXT NOT NULL,
    requested_at    REAL NOT NULL,
    granted_at      REAL,
    ended_at        REAL,
    outcome         TEXT            -- spoke, withdrawn, left, removed, meeting ended
);
CREATE INDEX speaking_requests_session ON speaking_requests(room_session_id);
