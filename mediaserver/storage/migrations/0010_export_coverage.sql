-- 0010: how much of an export's range has footage, known when the export is created.
-- covered_s / missing_s: seconds of [start_at, end_at) with and without recorded footage.
-- gaps_json: the uncovered spans, [[start, end], …] in UTC epoch seconds (at most 50, oldest first).
ALTER TABLE exports ADD COLUMN covered_s REAL;
ALTER TABLE exports ADD COLUMN missing_s REAL;
ALTER TABLE exports ADD COLUMN gaps_json TEXT;
