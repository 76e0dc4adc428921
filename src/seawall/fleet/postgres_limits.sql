-- Fleet-wide token buckets and retry budgets (seawall.fleet.postgres_limits). Idempotent: run
-- under an advisory lock by every process that connects.

CREATE UNLOGGED TABLE IF NOT EXISTS seawall_fleet_buckets (
    namespace text NOT NULL,
    kind text NOT NULL,                   -- 'rate' or 'budget'
    key text NOT NULL,
    tokens double precision NOT NULL,
    floor double precision NOT NULL DEFAULT 0,  -- budget: the per-second floor's tokens
    at double precision NOT NULL,               -- server time of the last refill
    PRIMARY KEY (namespace, kind, key)
);

-- Take up to `want` tokens; with none, reserve one if it frees up within may_wait (< 0: any).
CREATE OR REPLACE FUNCTION seawall_fleet_take(
    ns text, bkey text, rate double precision, burst double precision, want bigint,
    may_wait double precision, OUT o_granted bigint, OUT o_wait double precision
) LANGUAGE plpgsql AS $$
DECLARE
    now_s double precision;  -- read once the row is locked: time never runs backwards
    v_tokens double precision;
    v_at double precision;
BEGIN
    SELECT b.tokens, b.at INTO v_tokens, v_at FROM seawall_fleet_buckets b
    WHERE b.namespace = ns AND b.kind = 'rate' AND b.key = bkey FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO seawall_fleet_buckets (namespace, kind, key, tokens, at)
        VALUES (ns, 'rate', bkey, burst, extract(epoch FROM clock_timestamp()))
        ON CONFLICT DO NOTHING;
        SELECT b.tokens, b.at INTO v_tokens, v_at FROM seawall_fleet_buckets b
        WHERE b.namespace = ns AND b.kind = 'rate' AND b.key = bkey FOR UPDATE;
    END IF;
    now_s := greatest(extract(epoch FROM clock_timestamp()), v_at);
    v_tokens := least(burst, v_tokens + greatest(0, now_s - v_at) * rate);
    o_granted := 0;
    o_wait := 0;
    IF v_tokens >= 1 THEN
        o_granted := least(want, floor(v_tokens)::bigint);
        v_tokens := v_tokens - o_granted;
    ELSE
        o_wait := (1 - v_tokens) / rate;
        IF may_wait < 0 OR o_wait <= may_wait THEN
            o_granted := 1;
            v_tokens := v_tokens - 1;
        END IF;
    END IF;
    UPDATE seawall_fleet_buckets b SET tokens = v_tokens, at = now_s
    WHERE b.namespace = ns AND b.kind = 'rate' AND b.key = bkey;
END
$$;

-- As RetryBudget: deposits earn `ratio` each (up to max_tokens), the floor refills at
-- floor_rate per second (up to max(1, floor_rate)); a retry takes from the floor first.
CREATE OR REPLACE FUNCTION seawall_fleet_budget(
    ns text, bkey text, ratio double precision, floor_rate double precision,
    max_tokens double precision, deposits bigint, want bigint,
    OUT o_granted bigint, OUT o_available double precision
) LANGUAGE plpgsql AS $$
DECLARE
    now_s double precision;  -- read once the row is locked: time never runs backwards
    v_tokens double precision;
    v_floor double precision;
    v_at double precision;
BEGIN
    SELECT b.tokens, b.floor, b.at INTO v_tokens, v_floor, v_at FROM seawall_fleet_buckets b
    WHERE b.namespace = ns AND b.kind = 'budget' AND b.key = bkey FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO seawall_fleet_buckets (namespace, kind, key, tokens, floor, at)
        VALUES (ns, 'budget', bkey, 0, floor_rate, extract(epoch FROM clock_timestamp()))
        ON CONFLICT DO NOTHING;
        SELECT b.tokens, b.floor, b.at INTO v_tokens, v_floor, v_at FROM seawall_fleet_buckets b
        WHERE b.namespace = ns AND b.kind = 'budget' AND b.key = bkey FOR UPDATE;
    END IF;
    now_s := greatest(extract(epoch FROM clock_timestamp()), v_at);
    v_tokens := least(max_tokens, v_tokens + deposits * ratio);
    v_floor := least(greatest(1, floor_rate), v_floor + greatest(0, now_s - v_at) * floor_rate);
    o_granted := 0;
    IF want > 0 THEN
        IF v_floor >= 1 THEN
            v_floor := v_floor - 1;
            o_granted := 1;
        ELSIF v_tokens >= 1 THEN
            v_tokens := v_tokens - 1;
            o_granted := 1;
        END IF;
    END IF;
    UPDATE seawall_fleet_buckets b SET tokens = v_tokens, floor = v_floor, at = now_s
    WHERE b.namespace = ns AND b.kind = 'budget' AND b.key = bkey;
    o_available := v_floor + v_tokens;
END
$$;
