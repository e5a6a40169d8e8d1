-- 0004: cameras added through the API keep how to reach them; their password is stored encrypted.
ALTER TABLE cameras ADD COLUMN source_json TEXT;
ALTER TABLE cameras ADD COLUMN secret BLOB;
