-- 0013: meeting documents (tài liệu họp): PDFs and images staff attach to a scheduled meeting for the invited
-- sites to open from the join page. The file is data_dir/documents/<meeting_id>/<sha256>.<ext>; one row per
-- file, so the same content twice in one meeting is refused (UNIQUE) rather than two rows sharing a file.
-- pages: a PDF's page count (to bound "present at page N"); NULL for an image.
CREATE TABLE meeting_documents (
    id           INTEGER PRIMARY KEY,
    meeting_id   INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size         INTEGER NOT NULL CHECK (size > 0),
    sha256       TEXT NOT NULL,
    pages        INTEGER,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  REAL NOT NULL,
    downloadable INTEGER NOT NULL DEFAULT 1 CHECK (downloadable IN (0, 1)),
    UNIQUE (meeting_id, sha256)
);
CREATE INDEX meeting_documents_meeting ON meeting_documents(meeting_id, id);
