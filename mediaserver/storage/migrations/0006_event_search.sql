-- 0006: event search indexes. Score and duration filters are checked inside the index (no table row is read
-- for an event that fails them), and a zone search walks the zone index in time order, per camera or across
-- every camera, instead of scanning each event's zones.

DROP INDEX motion_events_camera_time;
CREATE INDEX motion_events_camera_time ON motion_events(camera_id, start_at, peak_score, end_at);
DROP INDEX motion_events_time;
CREATE INDEX motion_events_time ON motion_events(start_at, peak_score, end_at);
DROP INDEX motion_event_zones_lookup;
CREATE INDEX motion_event_zones_lookup ON motion_event_zones(camera_id, zone, start_at, event_id);
CREATE INDEX motion_event_zones_by_zone ON motion_event_zones(zone, start_at, event_id);
