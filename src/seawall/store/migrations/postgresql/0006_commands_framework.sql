-- CQRS commands with the framework's statuses, history and TTL (seawall v0.2).
-- Statuses: v0.1's `synced` is the framework's `finish:FINISHED`; `pending` (stored, not yet
-- projected) is `publish_async:STARTED`.
UPDATE seawall_commands SET status = 'finish:FINISHED' WHERE status = 'synced';
UPDATE seawall_commands SET status = 'publish_async:STARTED' WHERE status = 'pending';
-- History holds the data as it was BEFORE each change: v0.1 also kept the current version.
DELETE FROM seawall_command_history WHERE EXISTS (
    SELECT 1 FROM seawall_command_data AS d
    WHERE d.pk = seawall_command_history.pk
      AND d.sk = seawall_command_history.sk
      AND d.version <= seawall_command_history.version
);
-- Expired rows (ttl in epoch seconds) are hidden at once and purged by `purge_expired`.
CREATE INDEX IF NOT EXISTS seawall_commands_ttl ON seawall_commands (ttl) WHERE ttl IS NOT NULL;
CREATE INDEX IF NOT EXISTS seawall_command_data_ttl ON seawall_command_data (ttl)
    WHERE ttl IS NOT NULL;
CREATE INDEX IF NOT EXISTS seawall_command_history_ttl ON seawall_command_history (ttl)
    WHERE ttl IS NOT NULL;
