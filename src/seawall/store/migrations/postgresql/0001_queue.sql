-- The durable job queue. state: 0 = pending (ready, delayed or leased), 1 = done, 2 = dead.
-- A pending job is ready when visible_at <= now; a claim sets lease_token and pushes visible_at
-- to the end of the lease, so an expired lease makes the job ready again.
CREATE TABLE seawall_jobs (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    state SMALLINT NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0,
    receives INTEGER NOT NULL DEFAULT 0,
    max_receives INTEGER NOT NULL,
    lease_token TEXT,
    enqueued_at DOUBLE PRECISION NOT NULL,
    visible_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    dead_reason TEXT,
    dedup_key TEXT,
    errors TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX seawall_jobs_claim ON seawall_jobs (queue, priority DESC, visible_at, id)
    WHERE state = 0;
CREATE INDEX seawall_jobs_finished ON seawall_jobs (state, finished_at) WHERE state <> 0;
CREATE TABLE seawall_job_dedup (
    queue TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    job_id TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (queue, dedup_key)
);
