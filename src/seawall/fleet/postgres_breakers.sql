-- Circuit breakers shared through PostgreSQL (seawall.fleet.postgres_breakers). Idempotent: run
-- under an advisory lock by every process that connects.

CREATE UNLOGGED TABLE IF NOT EXISTS seawall_fleet_breakers (
    namespace text NOT NULL,
    name text NOT NULL,
    state text NOT NULL DEFAULT 'CLOSED',
    gen bigint NOT NULL DEFAULT 0,
    opened_at double precision NOT NULL DEFAULT 0,  -- server time, seconds since the epoch
    failures bigint NOT NULL DEFAULT 0,
    succ bigint NOT NULL DEFAULT 0,                 -- probe successes while HALF_OPEN
    updated_at double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, name)
);

-- Half-open probe slots; a slot past expires_at is free again (its prober died).
CREATE UNLOGGED TABLE IF NOT EXISTS seawall_fleet_breaker_probes (
    namespace text NOT NULL,
    name text NOT NULL,
    token text NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (namespace, name, token)
);

-- Ratio mode: the sliding window, one row per bucket period.
CREATE UNLOGGED TABLE IF NOT EXISTS seawall_fleet_breaker_window (
    namespace text NOT NULL,
    name text NOT NULL,
    period bigint NOT NULL,
    calls bigint NOT NULL,
    fails bigint NOT NULL,
    PRIMARY KEY (namespace, name, period)
);

-- One transition: a new generation, counts cleared, probe slots (and outside HALF_OPEN the
-- window) dropped.
CREATE OR REPLACE FUNCTION seawall_fleet_breaker_move(
    b seawall_fleet_breakers, target text, now_s double precision
) RETURNS seawall_fleet_breakers LANGUAGE plpgsql AS $$
BEGIN
    b.state := target;
    b.gen := b.gen + 1;
    b.failures := 0;
    b.succ := 0;
    IF target = 'OPEN' THEN
        b.opened_at := now_s;
    END IF;
    DELETE FROM seawall_fleet_breaker_probes p WHERE p.namespace = b.namespace AND p.name = b.name;
    IF target <> 'HALF_OPEN' THEN
        DELETE FROM seawall_fleet_breaker_window w
        WHERE w.namespace = b.namespace AND w.name = b.name;
    END IF;
    RETURN b;
END
$$;

-- op 'sync': cfg = {mode, threshold, min_calls, rate, bucket_s, buckets, max, reset, failed,
--   calls, request, probes_done: [[token, outcome], ...]}; o_extra is the consecutive count.
-- op 'probe': cfg = {reset_timeout, max, token, probe_ttl}; o_extra is 1 when a slot was taken.
CREATE OR REPLACE FUNCTION seawall_fleet_breaker(
    ns text, bname text, op text, cfg jsonb,
    OUT o_extra bigint, OUT o_state text, OUT o_gen bigint, OUT o_age double precision
) LANGUAGE plpgsql AS $$
DECLARE
    now_s double precision;  -- read once the row is locked: time never runs backwards
    b seawall_fleet_breakers;
    done jsonb;
    removed int;
    v_req text;
    v_period bigint;
    v_calls bigint;
    v_fails bigint;
BEGIN
    -- Counts sent to a breaker that is not CLOSED change nothing: answer without the row lock,
    -- so processes learning of a trip do not queue behind each other.
    IF op = 'sync' AND coalesce(cfg ->> 'request', '') = ''
       AND jsonb_array_length(cfg -> 'probes_done') = 0 THEN
        SELECT * INTO b FROM seawall_fleet_breakers t WHERE t.namespace = ns AND t.name = bname;
        IF FOUND AND b.state <> 'CLOSED' THEN
            o_extra := b.failures;
            o_state := b.state;
            o_gen := b.gen;
            o_age := greatest(extract(epoch FROM clock_timestamp()), b.updated_at) - b.opened_at;
            RETURN;
        END IF;
    END IF;
    SELECT * INTO b FROM seawall_fleet_breakers t
    WHERE t.namespace = ns AND t.name = bname FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO seawall_fleet_breakers (namespace, name) VALUES (ns, bname)
        ON CONFLICT DO NOTHING;
        SELECT * INTO b FROM seawall_fleet_breakers t
        WHERE t.namespace = ns AND t.name = bname FOR UPDATE;
    END IF;
    now_s := greatest(extract(epoch FROM clock_timestamp()), b.updated_at);
    IF op = 'sync' THEN
        FOR done IN SELECT jsonb_array_elements(cfg -> 'probes_done') LOOP
            DELETE FROM seawall_fleet_breaker_probes p
            WHERE p.namespace = ns AND p.name = bname AND p.token = done ->> 0;
            GET DIAGNOSTICS removed = ROW_COUNT;
            IF b.state = 'HALF_OPEN' AND removed = 1 THEN
                IF done ->> 1 = 'failure' THEN
                    b := seawall_fleet_breaker_move(b, 'OPEN', now_s);
                ELSIF done ->> 1 = 'success' THEN
                    b.succ := b.succ + 1;
                    IF b.succ >= (cfg ->> 'max')::bigint THEN
                        b := seawall_fleet_breaker_move(b, 'CLOSED', now_s);
                    END IF;
                END IF;
            END IF;
        END LOOP;
        v_req := cfg ->> 'request';
        IF v_req = 'force_close' THEN
            b := seawall_fleet_breaker_move(b, 'CLOSED', now_s);
        ELSIF v_req = 'open' AND b.state <> 'OPEN' THEN
            b := seawall_fleet_breaker_move(b, 'OPEN', now_s);
        ELSIF v_req = 'close' AND b.state = 'HALF_OPEN' THEN
            b := seawall_fleet_breaker_move(b, 'CLOSED', now_s);
        END IF;
        IF b.state = 'CLOSED' THEN
            IF cfg ->> 'mode' = 'consecutive' THEN
                IF (cfg ->> 'reset')::boolean THEN
                    b.failures := 0;
                END IF;
                b.failures := b.failures + (cfg ->> 'failed')::bigint;
                IF b.failures >= (cfg ->> 'threshold')::bigint THEN
                    b := seawall_fleet_breaker_move(b, 'OPEN', now_s);
                END IF;
            ELSIF (cfg ->> 'calls')::bigint > 0 THEN
                v_period := floor(now_s / (cfg ->> 'bucket_s')::double precision);
                INSERT INTO seawall_fleet_breaker_window AS w (namespace, name, period, calls, fails)
                VALUES (ns, bname, v_period, (cfg ->> 'calls')::bigint, (cfg ->> 'failed')::bigint)
                ON CONFLICT (namespace, name, period) DO UPDATE
                SET calls = w.calls + EXCLUDED.calls, fails = w.fails + EXCLUDED.fails;
                DELETE FROM seawall_fleet_breaker_window w
                WHERE w.namespace = ns AND w.name = bname
                  AND w.period <= v_period - (cfg ->> 'buckets')::bigint;
                SELECT coalesce(sum(w.calls), 0), coalesce(sum(w.fails), 0) INTO v_calls, v_fails
                FROM seawall_fleet_breaker_window w WHERE w.namespace = ns AND w.name = bname;
                IF v_calls >= (cfg ->> 'min_calls')::bigint
                   AND v_fails::double precision / v_calls >= (cfg ->> 'rate')::double precision THEN
                    b := seawall_fleet_breaker_move(b, 'OPEN', now_s);
                END IF;
            END IF;
        END IF;
        o_extra := b.failures;
    ELSE
        o_extra := 1;
        IF b.state = 'OPEN' THEN
            IF now_s - b.opened_at < (cfg ->> 'reset_timeout')::double precision THEN
                o_extra := 0;
            ELSE
                b := seawall_fleet_breaker_move(b, 'HALF_OPEN', now_s);
            END IF;
        END IF;
        IF o_extra = 1 AND b.state = 'HALF_OPEN' THEN
            DELETE FROM seawall_fleet_breaker_probes p
            WHERE p.namespace = ns AND p.name = bname AND p.expires_at <= now_s;
            IF (SELECT count(*) FROM seawall_fleet_breaker_probes p
                WHERE p.namespace = ns AND p.name = bname) >= (cfg ->> 'max')::bigint THEN
                o_extra := 0;
            ELSE
                INSERT INTO seawall_fleet_breaker_probes (namespace, name, token, expires_at)
                VALUES (ns, bname, cfg ->> 'token', now_s + (cfg ->> 'probe_ttl')::double precision);
            END IF;
        END IF;
    END IF;
    UPDATE seawall_fleet_breakers t
    SET state = b.state, gen = b.gen, opened_at = b.opened_at, failures = b.failures,
        succ = b.succ, updated_at = now_s
    WHERE t.namespace = ns AND t.name = bname;
    o_state := b.state;
    o_gen := b.gen;
    o_age := now_s - b.opened_at;
END
$$;
