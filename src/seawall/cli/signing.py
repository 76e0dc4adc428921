"""`sign` (headers a provider would send) and `verify` (why a captured request passes or fails)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from seawall.cli.common import emit, json_option
from seawall.secrets import resolve_secret
from seawall.webhooks.schemes import SCHEMES, Scheme, VerificationError, get_scheme

__all__ = ["register"]

_BIG_TOLERANCE = 10.0**11
"""A window wide enough to check the signature alone, whatever the timestamp."""

scheme_option = click.option(
    "--scheme",
    type=click.Choice(sorted(SCHEMES)),
    default="hmac-timestamp",
    show_default=True,
    help="Signature scheme.",
)
options_option = click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Scheme option (generic-hmac: header, algorithm, encoding, prefix, template...).",
)


def _scheme(name: str, options: tuple[str, ...]) -> Scheme:
    parsed: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--option")
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    try:
        return get_scheme(name, **parsed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--option") from None


def _body(body: str | None, body_file: Path | None) -> bytes:
    if (body is None) == (body_file is None):
        raise click.UsageError(
            "give the payload with --body TEXT or --body-file FILE ('-' = stdin)"
        )
    if body is not None:
        return body.encode("utf-8")
    assert body_file is not None
    if str(body_file) == "-":
        return sys.stdin.buffer.read()
    try:
        return body_file.read_bytes()
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {body_file}: {exc.strerror}", param_hint="--body-file"
        ) from None


@click.command()
@scheme_option
@options_option
@click.option(
    "--secret", required=True, help="Secret reference: env:NAME, file:/path or literal:VALUE."
)
@click.option("--body", default=None, help="Payload text.")
@click.option("--body-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--timestamp", type=int, default=None, help="Unix time to sign (default: now).")
@click.option("--event-id", default=None)
@click.option("--event-type", default=None)
@json_option
def sign(
    scheme: str,
    options: tuple[str, ...],
    secret: str,
    body: str | None,
    body_file: Path | None,
    timestamp: int | None,
    event_id: str | None,
    event_type: str | None,
    as_json: bool,
) -> None:
    """Print the headers a provider would send with the payload (to test your own endpoint)."""
    payload = _body(body, body_file)
    key = resolve_secret(secret, name="--secret")
    headers = _scheme(scheme, options).sign(
        payload, key.value, timestamp=timestamp, event_id=event_id, event_type=event_type
    )
    emit(
        as_json,
        {"scheme": scheme, "headers": headers},
        text="\n".join(f"{k}: {v}" for k, v in headers.items()),
    )


def _headers(pairs: tuple[str, ...], headers_file: Path | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if headers_file is not None:
        try:
            data = json.loads(headers_file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(
                f"{headers_file}: {exc}", param_hint="--headers-file"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise click.BadParameter(
                "expected a JSON object of header: value strings", param_hint="--headers-file"
            )
        out.update({str(k): v for k, v in data.items()})
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected 'Name: value', got {pair!r}", param_hint="-H")
        out[name.strip()] = value.strip()
    if not out:
        raise click.UsageError("give the captured headers with -H 'Name: value' or --headers-file")
    return out


def _diagnose(
    scheme: Scheme,
    payload: bytes,
    headers: dict[str, str],
    secrets: list[str],
    error: VerificationError,
) -> str:
    """A precise explanation of a failure, trying the likely causes."""
    reason = error.reason.value
    if reason in ("stale_timestamp", "future_timestamp"):
        try:
            scheme.verify(payload, headers, secrets, now=time.time(), tolerance_s=_BIG_TOLERANCE)
        except VerificationError:
            return "the timestamp is outside the window, and the signature does not match either"
        return (
            "the signature is right for this secret and body; only the timestamp is outside "
            "the window (a replayed or delayed request, or skewed clocks; --now checks it "
            "as of another time)"
        )
    if reason == "bad_signature":
        for label, variant in (
            ("a trailing newline was added to the body", payload.rstrip(b"\r\n")),
            ("line endings were changed to CRLF", payload.replace(b"\r\n", b"\n")),
        ):
            if variant != payload:
                try:
                    scheme.verify(
                        variant, headers, secrets, now=time.time(), tolerance_s=_BIG_TOLERANCE
                    )
                except VerificationError:
                    continue
                return f"body changed: {label} after signing; verify the exact raw bytes"
        return (
            "wrong secret, or the body changed after signing (re-serialised JSON, "
            "re-encoded text, edited whitespace): the signature matches neither"
        )
    if reason in ("missing_header", "malformed_header", "invalid_timestamp"):
        return f"header problem: {error.message}"
    if reason == "no_secret":
        return "no usable secret: check the --secret value (whsec_ secrets must be base64)"
    return error.message


@click.command()
@scheme_option
@options_option
@click.option(
    "--secret",
    "secret_refs",
    multiple=True,
    required=True,
    help="Secret reference (env:NAME, file:/path, literal:VALUE); repeat for rotation.",
)
@click.option("--body", default=None, help="Captured body text.")
@click.option(
    "--body-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Captured raw body bytes ('-' = stdin).",
)
@click.option("-H", "--header", "header_pairs", multiple=True, metavar="'NAME: VALUE'")
@click.option(
    "--headers-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON object of captured headers.",
)
@click.option("--tolerance", type=click.FloatRange(min=0), default=300.0, show_default=True)
@click.option("--now", type=float, default=None, help="Check as of this Unix time.")
@json_option
def verify(
    scheme: str,
    options: tuple[str, ...],
    secret_refs: tuple[str, ...],
    body: str | None,
    body_file: Path | None,
    header_pairs: tuple[str, ...],
    headers_file: Path | None,
    tolerance: float,
    now: float | None,
    as_json: bool,
) -> None:
    """Check a captured request against a scheme and secret; say precisely why it fails."""
    payload = _body(body, body_file)
    headers = _headers(header_pairs, headers_file)
    secrets = [resolve_secret(ref, name="--secret").value for ref in secret_refs]
    checker = _scheme(scheme, options)
    at = time.time() if now is None else now
    try:
        ok = checker.verify(payload, headers, secrets, now=at, tolerance_s=tolerance)
    except VerificationError as exc:
        why = _diagnose(checker, payload, headers, secrets, exc)
        result = {"valid": False, "reason": exc.reason.value, "message": exc.message, "why": why}
        if as_json:
            emit(True, result)
        else:
            click.echo(f"INVALID ({exc.reason.value}): {exc.message}\n  why: {why}", err=True)
        raise click.exceptions.Exit(1) from None
    answer: dict[str, object] = {
        "valid": True,
        "scheme": ok.scheme,
        "event_id": ok.event_id,
        "event_type": ok.event_type,
        "timestamp": ok.timestamp,
        "secret_index": ok.secret_index,
    }
    emit(
        as_json,
        answer,
        text=(
            f"valid {ok.scheme} signature (secret #{ok.secret_index + 1})"
            + (f", event {ok.event_id}" if ok.event_id else "")
            + (f", signed at {ok.timestamp:.0f}" if ok.timestamp is not None else "")
        ),
    )


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    group.add_command(sign)
    group.add_command(verify)
