-- 0012: the review queue — one item per motion event in which the object detector kept at least one detection.
-- kind: 'alert' (a configured object in a configured zone) or 'detection'. Labels and zones are JSON on the
-- item (for display) and one row each in review_labels / review_zones (for filtering), like motion_event_zones,
-- so a filter by label or zone walks an index in time order instead of scanning JSON.
-- Deleting the motion event (retention) deletes its item and their rows (ON DELETE CASCADE); the snapshot file
-- (data_dir/review/<camera>/<event id>.jpg) is deleted by the retention sweep.

CREATE TABLE review_items (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL UNIQUE REFERENCES motion_events(id) ON DELETE CASCADE,
    camera_id     TEXT NOT NULL REFERENCES cameras(id),
    kind          TEXT NOT NULL CHECK (kind IN ('alert', 'detection')),
    labels_json   TEXT NOT NULL DEFAULT '[]',
    top_score     REAL NOT NULL DEFAULT 0,
    zones_json    TEXT NOT NULL DEFAULT '[]',
    -- [[t, label, score, x, y, w, h], ...]: t UTC epoch seconds, box in relative (0..1) coordinates.
    boxes_json    TEXT NOT NULL DEFAULT '[]',
    start_at      REAL NOT NULL,
    end_at        REAL,
    snapshot_path TEXT,  -- relative to data_dir; the best detection's frame, boxes not drawn
    reviewed_by   TEXT,
    reviewed_at   REAL
);
-- Newest first is ORDER BY start_at DESC, id DESC: the id is the rowid every index ends with.
CREATE INDEX review_items_time ON review_items(start_at);
CREATE INDEX review_items_camera ON review_items(camera_id, start_at);
CREATE INDEX review_items_kind ON review_items(kind, start_at);
CREATE INDEX review_items_camera_kind ON review_items(camera_id, kind, start_at);
-- The unreviewed queue and its counts (the console's badge) read only the unreviewed rows.
CREATE INDEX review_items_unreviewed ON review_items(start_at) WHERE reviewed_at IS NULL;
CREATE INDEX review_items_unreviewed_camera ON review_items(camera_id, kind, start_at) WHERE reviewed_at IS NULL;

CREATE TABLE review_labels (
    item_id   INTEGER NOT NULL REFERENCES review_items(id) ON DELETE CASCADE,
    label     TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    start_at  REAL NOT NULL,
    PRIMARY KEY (item_id, label)
);
CREATE INDEX review_labels_by_label ON review_labels(label, start_at, item_id);
CREATE INDEX review_labels_by_camera ON review_labels(camera_id, label, start_at, item_id);

CREATE TABLE review_zones (
    item_id   INTEGER NOT NULL REFERENCES review_items(id) ON DELETE CASCADE,
    zone      TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    start_at  REAL NOT NULL,
    PRIMARY KEY (item_id, zone)
);
CREATE INDEX review_zones_by_zone ON review_zones(zone, start_at, item_id);
CREATE INDEX review_zones_by_camera ON review_zones(camera_id, zone, start_at, item_id);
