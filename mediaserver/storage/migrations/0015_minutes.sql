-- 0015: meeting minutes (biên bản cuộc họp): the staff's draft of a scheduled meeting's minutes, and every
-- version issued from it. An issued version is a stored PDF (signed, or marked unsigned when signing is off)
-- and is never changed or deleted: issuing again makes the next version.
CREATE TABLE minutes_drafts (
    meeting_id   INTEGER PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
    conclusions  TEXT NOT NULL DEFAULT '',       -- kết luận, written by staff before issuing
    include_chat INTEGER NOT NULL DEFAULT 0 CHECK (include_chat IN (0, 1)),
    updated_by   TEXT NOT NULL,
    updated_at   REAL NOT NULL
);

CREATE TABLE minutes_versions (
    id           INTEGER PRIMARY KEY,
    meeting_id   INTEGER NOT NULL REFERENCES meetings(id),
    version      INTEGER NOT NULL CHECK (version >= 1),
    path         TEXT NOT NULL,                  -- relative to data_dir: minutes/<meeting>/bien-ban-<m>-v<n>.pdf
    bytes        INTEGER NOT NULL,
    sha256       TEXT NOT NULL,                  -- of the stored (signed) file, hex
    signed       INTEGER NOT NULL CHECK (signed IN (0, 1)),
    signer       TEXT,                           -- the certificate's "CN, O" when signed
    signer_kind  TEXT,                           -- pkcs12 / pkcs11 / demo
    conclusions  TEXT NOT NULL,
    include_chat INTEGER NOT NULL CHECK (include_chat IN (0, 1)),
    issued_by    TEXT NOT NULL,
    issued_at    REAL NOT NULL,
    UNIQUE (meeting_id, version)
);
CREATE INDEX minutes_versions_meeting ON minutes_versions(meeting_id, version);
