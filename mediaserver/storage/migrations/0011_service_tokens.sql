-- 0011: service tokens: long-lived, revocable, scoped API tokens for machines (Prometheus, scripts).
-- Only a SHA-256 of the token is stored: the token itself is shown once, when it is made.
CREATE TABLE service_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL,
    revoked_at   REAL,
    last_used_at REAL
);
CREATE INDEX service_tokens_created ON service_tokens(created_at);
