-- 0014: votes (biểu quyết) taken in a meeting: the question, and one row per site that may vote.
-- Counts live on the question so a secret vote needs no per-site choice: its ballots rows say only that
-- the site voted (choice NULL), which is what refuses a second ballot.
CREATE TABLE vote_questions (
    id              INTEGER PRIMARY KEY,
    room_id         TEXT NOT NULL REFERENCES rooms(id),
    meeting_id      INTEGER REFERENCES meetings(id) ON DELETE CASCADE,   -- NULL: an unscheduled session
    room_session_id INTEGER REFERENCES room_sessions(id) ON DELETE SET NULL,
    text            TEXT NOT NULL,
    secret          INTEGER NOT NULL DEFAULT 0 CHECK (secret IN (0, 1)),
    opened_at       REAL NOT NULL,
    opened_by       TEXT NOT NULL,          -- who opened it: 'site:<id>' (the chair's page) or a staff username
    closed_at       REAL,                   -- NULL: still open (at most one per room)
    closed_by       TEXT,
    yes_count       INTEGER NOT NULL DEFAULT 0,
    no_count        INTEGER NOT NULL DEFAULT 0,
    abstain_count   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX vote_questions_meeting ON vote_questions(meeting_id, opened_at);
-- One question open at a time per room, whatever the process holding the room does.
CREATE UNIQUE INDEX vote_questions_one_open ON vote_questions(room_id) WHERE closed_at IS NULL;

CREATE TABLE vote_ballots (
    question_id INTEGER NOT NULL REFERENCES vote_questions(id) ON DELETE CASCADE,
    site_id     TEXT NOT NULL,
    choice      TEXT CHECK (choice IS NULL OR choice IN ('yes', 'no', 'abstain')),  -- NULL: secret or not yet
    voted_at    REAL,                       -- NULL: present while the question was open, has not voted
    PRIMARY KEY (question_id, site_id)
);
