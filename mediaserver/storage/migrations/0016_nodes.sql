-- 0016: several server processes (nodes) sharing one index (issue 16).
-- nodes: one row per node, written at start and refreshed by its heartbeat; a node whose heartbeat_at is older
-- than the cluster's lease TTL is dead. load_json: what it runs now ({"cameras": n, "rooms": n, "cpu_pct": x}).
-- Times are epoch seconds of the DATABASE's clock (every node compares against the same clock).
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    capacity     INTEGER NOT NULL CHECK (capacity >= 0),
    load_json    TEXT NOT NULL DEFAULT '{}',
    heartbeat_at REAL NOT NULL,
    started_at   REAL NOT NULL
);

-- leases: who owns a resource ('camera:<id>', 'room:<id>') until expires_at; renewed by the owner's heartbeat,
-- taken over by another node only once expired (one atomic INSERT … ON CONFLICT … DO UPDATE … WHERE).
CREATE TABLE leases (
    resource    TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    acquired_at REAL NOT NULL
);
CREATE INDEX leases_node ON leases(node_id);

-- job_claims: a scheduled run (job, due time) is performed by the one node whose INSERT wins; never expires,
-- so a run is not repeated by a node that looks later (old rows are purged with the job's history).
CREATE TABLE job_claims (
    job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    scheduled_for REAL NOT NULL,
    node_id       TEXT NOT NULL,
    claimed_at    REAL NOT NULL,
    PRIMARY KEY (job_id, scheduled_for)
);

-- Where footage and runs are: the node that recorded the segment / performed the run; NULL = the single node
-- of a set-up without a cluster (and every row written before this migration).
ALTER TABLE recording_segments ADD COLUMN node_id TEXT;
ALTER TABLE job_runs ADD COLUMN node_id TEXT;
