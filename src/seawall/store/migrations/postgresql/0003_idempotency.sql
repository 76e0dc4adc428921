-- Idempotency records: one row per (scope, key), claimed atomically, released on failure.
CREATE TABLE IF NOT EXISTS seawall_idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    token TEXT NOT NULL,
    lease_expires_at DOUBLE PRECISION,
    expires_at DOUBLE PRECISION NOT NULL,
    result TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS seawall_idempotency_expires ON seawall_idempotency (expires_at);
