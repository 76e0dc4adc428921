-- Idempotency records: one row per (scope, key), claimed atomically, released on failure.
CREATE TABLE IF NOT EXISTS seawall_idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    token TEXT NOT NULL,
    lease_expires_at REAL,
    expires_at REAL NOT NULL,
    result TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS seawall_idempotency_expires ON seawall_idempotency (expires_at);
