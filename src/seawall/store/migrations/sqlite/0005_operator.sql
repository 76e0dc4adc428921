-- Operator state: each process publishes its circuit breakers here, so `seawall breakers list`
-- sees every running service and `seawall breakers reset` can ask them to close a breaker.
CREATE TABLE IF NOT EXISTS seawall_breakers (
    name TEXT NOT NULL,
    instance TEXT NOT NULL,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    reset_requested_at REAL,
    PRIMARY KEY (name, instance)
);
