"""Microseconds per verification of a 1 KiB webhook: seawall's schemes beside the floor and peers.

The floor is the least any HMAC verifier can do with the standard library: raw `hmac` and
`hmac.compare_digest` against the expected digest bytes, with no header parsing, no timestamp,
no encoding and no secret lookup. Two raw forms are measured, the one-shot
`hmac.digest(key, body, "sha256")` and `hmac.new(key, body, "sha256").digest()`; the floor is
the faster of the two in this run (the output names it), and every ratio is to that one floor.
Peers are
the verifiers of `standardwebhooks`, `svix` and `stripe` (`WebhookSignature.verify_header`,
which is what `Webhook.construct_event` runs before parsing JSON). Every candidate runs in
the same process, in interleaved rounds (so drift in machine load hits all alike); the figure
is the median over rounds of the mean per call within a round.

    .venv/bin/python benchmarks/verify.py [--rounds 41] [--calls 2000]
"""

from __future__ import annotations

import argparse
import hmac
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import standardwebhooks
import stripe
import svix.webhooks

from seawall.webhooks.schemes import SCHEMES, get_scheme

SECRET_WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_TEXT = "bench-secret-0123456789abcdef"
ONE_SHOT = "raw: hmac.digest + compare_digest"
HMAC_NEW = "raw: hmac.new + compare_digest"


def body_1kib() -> bytes:
    """A JSON body of exactly 1024 bytes."""
    head = b'{"type":"payment.completed","data":{"id":"pay_123","note":"'
    tail = b'"}}'
    return head + b"x" * (1024 - len(head) - len(tail)) + tail


def candidates(body: bytes, now: float) -> dict[str, Callable[[], object]]:
    """Name -> zero-argument callable performing one successful verification."""
    key = SECRET_TEXT.encode()
    expected = hmac.new(key, body, "sha256").digest()
    out: dict[str, Callable[[], object]] = {
        ONE_SHOT: lambda: hmac.compare_digest(hmac.digest(key, body, "sha256"), expected),
        HMAC_NEW: lambda: hmac.compare_digest(hmac.new(key, body, "sha256").digest(), expected),
    }
    generic_options = {
        "header": "x-signature",
        "timestamp_header": "x-timestamp",
        "template": "{timestamp}.{body}",
    }
    for name in SCHEMES:
        options = generic_options if name == "generic-hmac" else {}
        scheme = get_scheme(name, **options)
        secret = SECRET_WHSEC if name == "standard-webhooks" else SECRET_TEXT
        sent = scheme.sign(body, secret, timestamp=now, event_id="evt_1", event_type="ping")
        headers = {k.lower(): v for k, v in sent.items()}  # as an ASGI server delivers them
        secrets = [secret]
        out[f"seawall {name}"] = (
            lambda s=scheme, h=headers, sec=secrets: s.verify(body, h, sec, now=now)  # type: ignore[misc]
        )

    msg_id = "msg_1"
    peer = standardwebhooks.Webhook(SECRET_WHSEC)
    sig = peer.sign(msg_id, datetime.fromtimestamp(now, tz=UTC), body.decode())
    std_headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": sig,
    }
    out["peer standardwebhooks"] = lambda: peer.verify(body, std_headers, json_parse=False)
    svix_peer = svix.webhooks.Webhook(SECRET_WHSEC)
    svix_headers = {"svix-id": msg_id, "svix-timestamp": str(int(now)), "svix-signature": sig}
    out["peer svix"] = lambda: svix_peer.verify(body, svix_headers)
    stripe_header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), SECRET_TEXT, timestamp=int(now)
    )
    out["peer stripe verify_header"] = lambda: stripe.WebhookSignature.verify_header(
        body, stripe_header, SECRET_TEXT, tolerance=300
    )
    return out


def measure(funcs: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict[str, float]:
    """Median microseconds per call for each function, over interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for func in funcs.values():  # warm up caches and prepared keys
        for _ in range(200):
            func()
    for _ in range(rounds):
        for name, func in funcs.items():
            start = time.perf_counter_ns()
            for _ in range(calls):
                func()
            samples[name].append((time.perf_counter_ns() - start) / calls / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    """Run the comparison and print a table of medians and ratios to the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    body = body_1kib()
    now = time.time()
    funcs = candidates(body, now)
    print(f"verify a {len(body)} B body; {args.rounds} interleaved rounds x {args.calls} calls")
    results = measure(funcs, args.rounds, args.calls)
    floor_name = min((ONE_SHOT, HMAC_NEW), key=results.__getitem__)
    floor = results[floor_name]
    print(f"floor = the faster raw form, {floor_name[5:]}: {floor:.2f} us per verification")
    print(f"{'verifier':36s} {'us/verify':>10s} {'x floor':>8s}")
    for name, micros in results.items():
        print(f"{name:36s} {micros:10.2f} {micros / floor:8.2f}")
    worst = max(v for k, v in results.items() if k.startswith("seawall")) / floor
    print(f"slowest seawall scheme: {worst:.2f}x the floor (target <= 1.5x)")


if __name__ == "__main__":
    main()
