-- The webhook inbox: one row per (source, event id), holding the raw body and the outcome.
CREATE TABLE IF NOT EXISTS seawall_webhook_inbox (
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    headers TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL DEFAULT 'received',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    processed_at DOUBLE PRECISION,
    job_id TEXT,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX IF NOT EXISTS seawall_webhook_inbox_received ON seawall_webhook_inbox (received_at);
CREATE INDEX IF NOT EXISTS seawall_webhook_inbox_status ON seawall_webhook_inbox (status, received_at);
