"""Server-rendered HTML for the dashboard: one layout, escaped values, tables and an SVG chart."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote

from seawall.dashboard.data import MinutePoint

__all__ = ["chart", "e", "fmt_time", "form_button", "layout", "login_page", "table", "url"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;
align-items:center}
header a{color:#cfd6e4;text-decoration:none}header a.on{color:#fff;font-weight:600}
header form{margin-left:auto}main{padding:1rem 1.2rem;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1.2rem}
th,td{border-bottom:1px solid #e3e6ec;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e3e6ec;padding:.7rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.5rem}.err{color:#b42318}.ok{color:#067647}
.flash{background:#e8f3ff;border:1px solid #9cc3f5;padding:.5rem .8rem;margin:.5rem 0}
pre{background:#fff;border:1px solid #e3e6ec;padding:.6rem;overflow:auto;max-height:24rem}
button{cursor:pointer}form.inline{display:inline}
.state-OPEN{color:#b42318;font-weight:600}.state-HALF_OPEN{color:#b54708}.state-CLOSED{color:#067647}
"""

_JS = """
document.addEventListener('submit', function (ev) {
  var msg = ev.target.getAttribute('data-confirm');
  if (msg && !window.confirm(msg)) { ev.preventDefault(); }
});
(function () {
  var box = document.getElementById('autorefresh');
  if (!box) { return; }
  box.checked = localStorage.getItem('seawall-autorefresh') === '1';
  box.addEventListener('change', function () {
    localStorage.setItem('seawall-autorefresh', box.checked ? '1' : '0');
  });
  setInterval(function () { if (box.checked) { window.location.reload(); } }, 10000);
})();
"""


def e(value: object) -> str:
    """HTML-escape any value (None is empty)."""
    return "" if value is None else escape(str(value), quote=True)


def url(*parts: str, **query: str | int | None) -> str:
    """A /dashboard URL from path parts (each quoted) and query values (None dropped)."""
    path = "/dashboard" + "".join("/" + quote(p, safe="") for p in parts)
    pairs = [f"{k}={quote(str(v), safe='')}" for k, v in query.items() if v not in (None, "")]
    return path + ("?" + "&".join(pairs) if pairs else "")


def fmt_time(epoch: float | None) -> str:
    """UTC time for tables."""
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def layout(title: str, body: str, *, csrf: str, active: str, flash: str | None = None) -> str:
    """A full page: navigation, the flash message, and `body`."""
    nav = "".join(
        f'<a href="{href}" class="{"on" if key == active else ""}">{label}</a>'
        for key, href, label in (
            ("overview", "/dashboard", "Overview"),
            ("events", "/dashboard/events", "Events"),
            ("dlq", "/dashboard/dlq", "Dead letters"),
        )
    )
    note = f'<div class="flash" role="status">{e(flash)}</div>' if flash else ""
    logout = (
        f'<form method="post" action="/dashboard/logout">{csrf_field(csrf)}'
        '<button type="submit">Log out</button></form>'
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} · seawall'
        f"</title><style>{_CSS}</style></head><body><header><strong>seawall</strong>{nav}"
        f'<label><input type="checkbox" id="autorefresh"> auto-refresh</label>{logout}</header>'
        f"<main><h1>{e(title)}</h1>{note}{body}</main><script>{_JS}</script></body></html>"
    )


def csrf_field(csrf: str) -> str:
    """The hidden CSRF input every form carries."""
    return f'<input type="hidden" name="csrf" value="{e(csrf)}">'


def form_button(
    action: str,
    label: str,
    *,
    csrf: str,
    fields: dict[str, str] | None = None,
    confirm: str | None = None,
    name: str | None = None,
) -> str:
    """A one-button POST form (with CSRF token and an optional confirmation prompt)."""
    hidden = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in (fields or {}).items()
    )
    data = f' data-confirm="{e(confirm)}"' if confirm else ""
    test = f' data-action="{e(name)}"' if name else ""
    return (
        f'<form class="inline" method="post" action="{e(action)}"{data}>{csrf_field(csrf)}'
        f'{hidden}<button type="submit"{test}>{e(label)}</button></form>'
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str) -> str:
    """A table whose cells are already-escaped HTML."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f"<p><em>{e(empty)}</em></p>"
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def chart(points: Sequence[MinutePoint], *, width: int = 720, height: int = 160) -> str:
    """An inline SVG line chart of received, processed and errors per minute."""
    top = max([1, *(max(p.received, p.processed, p.errors) for p in points)])
    step = width / max(len(points) - 1, 1)

    def line(values: list[int], colour: str, label: str) -> str:
        coords = " ".join(
            f"{i * step:.1f},{height - 4 - (v / top) * (height - 12):.1f}"
            for i, v in enumerate(values)
        )
        return (
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{e(label)}</title></polyline>"
        )

    legend = (
        '<p><span style="color:#2563eb">■ received</span> '
        '<span style="color:#067647">■ processed</span> '
        '<span style="color:#b42318">■ failed</span> '
        f"per minute, last {len(points)} minutes (peak {top})</p>"
    )
    return (
        f'<svg role="img" aria-label="throughput and errors" width="100%" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'style="background:#fff;border:1px solid #e3e6ec;height:{height}px">'
        + line([p.received for p in points], "#2563eb", "received")
        + line([p.processed for p in points], "#067647", "processed")
        + line([p.errors for p in points], "#b42318", "failed")
        + "</svg>"
        + legend
    )


def login_page(*, login_csrf: str, error: str | None = None) -> str:
    """The login form (the token is exchanged for a session cookie)."""
    problem = f'<p class="err" role="alert">{e(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in · seawall'
        f"</title><style>{_CSS}</style></head><body><main><h1>seawall dashboard</h1>{problem}"
        '<form method="post" action="/dashboard/login">'
        f'<input type="hidden" name="csrf" value="{e(login_csrf)}">'
        '<label>Admin token <input type="password" name="token" autocomplete="current-password"'
        ' autofocus required></label> <button type="submit">Log in</button></form></main>'
        "</body></html>"
    )
