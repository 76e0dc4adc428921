-- The schema-version table itself is created by the migration runner; this file keeps the
-- numbering explicit. Each later file belongs to one component:
-- 0001 queue, 0002 webhooks, 0003 idempotency, 0004 commands, 0005 operator.
SELECT 1;
