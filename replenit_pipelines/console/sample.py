"""What a sample sync prints (issue 27 item 6): each request and its answer, shortened for a person
(a body's first records, long strings cut, a child array's first items), what the ledger now holds
for the sampled records, and for `--dry-run --diff` (item 7) the fields that changed. Plain text:
it must read the same in a terminal, a log and a CI job."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_RECORDS_SHOWN = 5  # records of a request body shown; the rest counted
MAX_CHILDREN_SHOWN = 3  # items of a child array shown; the rest counted
MAX_STRING = 60  # characters of a string value shown
MAX_RESPONSE = 1_500  # characters of a response body that is not JSON


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING - 1] + "…"
    if isinstance(value, list):
        shown = [_cut(v) for v in value[:MAX_CHILDREN_SHOWN]]
        return shown + ([f"… {len(value) - MAX_CHILDREN_SHOWN} more"] if len(value) > MAX_CHILDREN_SHOWN else [])
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in value.items()}
    return value


def _pretty(value: Any, indent: str) -> list[str]:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return [indent + line for line in text.splitlines()]


def shortened_body(body: bytes, indent: str = "    ") -> list[str]:
    """A JSON body (a request's array of records, a response's object) as indented lines, shortened."""
    try:
        value = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        return [indent + line for line in (text[:MAX_RESPONSE] + ("…" if len(text) > MAX_RESPONSE else "")).splitlines()]
    if value is None:
        return [f"{indent}(no body)"]
    if isinstance(value, list):
        lines = [f"{indent}["]
        shown = value[:MAX_RECORDS_SHOWN]
        for i, record in enumerate(shown):
            record_lines = _pretty(_cut(record), indent + "  ")
            if i < len(shown) - 1 or len(value) > MAX_RECORDS_SHOWN:
                record_lines[-1] += ","
            lines += record_lines
        if len(value) > MAX_RECORDS_SHOWN:
            lines.append(f"{indent}  … {len(value) - MAX_RECORDS_SHOWN} more records")
        return [*lines, f"{indent}]"]
    return _pretty(_cut(value), indent)


def exchange_lines(exchanges: Sequence[Any], secret: str = "") -> list[str]:
    """`POST /customers/<tenant>  5 records, 1,234 bytes` and its body, then `200  in 12 ms` and
    the answer. `secret` (the API key) is blanked wherever it might appear (it never should)."""
    lines: list[str] = []
    for e in exchanges:
        records = _records(e.request_body)
        size = f"{records} record{'s' if records != 1 else ''}, " if records is not None else ""
        lines.append(f"> {e.method} {e.path}  ({size}{len(e.request_body):,} bytes)")
        lines += shortened_body(e.request_body) if e.request_body else []
        if not e.status:
            lines.append("< not sent (dry run)")
            continue
        lines.append(f"< {e.status}  in {e.elapsed_s * 1000:.0f} ms")
        lines += shortened_body(e.response_body)
    return [redact(line, secret) for line in lines]


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "[API key]") if secret else text


def _records(body: bytes) -> int | None:
    try:
        value = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    return len(value) if isinstance(value, list) else None


def when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms is not None else ""


def ledger_rows(entries: Any, identities: Sequence[str]) -> list[dict]:
    """One row per sampled identity: its ledger entry (hash prefix, acked at, run id), or none."""
    by_id = {r["identity"]: r for r in entries.iter_rows(named=True)}
    rows = []
    for identity in identities:
        e = by_id.get(identity)
        rows.append({"identity": identity, "hash": e["hash"].hex()[:12] if e else "",
                     "acked_at": when(e["acked_at"]) if e else "not in the ledger", "run_id": (e["run_id"] or "") if e else ""})
    return rows


# --- --dry-run --diff -----------------------------------------------------------------------------


def _value(v: Any) -> str:
    text = orjson.dumps(_cut(v)).decode() if v is not None else "(absent)"
    return text if len(text) <= 2 * MAX_STRING else text[:2 * MAX_STRING - 1] + "…"


def diff_lines(items: Sequence[dict], more: int, new: int) -> list[str]:
    """`items`: {identity, kept, fields: [FieldChange]} per changed record shown."""
    if not items and not more:
        return [f"changed records: none{f' ({new:,} new: not in the ledger, nothing to compare)' if new else ''}"]
    lines = [f"changed records: {len(items) + more:,}" + (f", the first {len(items)} shown" if more else "")
             + (f" ({new:,} new ones not listed: nothing to compare)" if new else "")]
    for item in items:
        if not item["kept"]:
            lines.append(f"  {item['identity']}: changed; its last acknowledged payload was not kept "
                         "(REPLENIT_LEDGER_KEEP_PAYLOADS=1 keeps it from the next acknowledgement on)")
            continue
        lines.append(f"  {item['identity']}:")
        for c in item["fields"]:
            if c.kind == "changed":
                lines.append(f"    {c.path}: {_value(c.old)} → {_value(c.new)}")
            elif c.kind == "added":
                lines.append(f"    {c.path}: added {_value(c.new)}")
            else:
                lines.append(f"    {c.path}: removed (was {_value(c.old)})")
    if more:
        lines.append(f"  … and {more:,} more changed records")
    return lines


def diff_json(items: Sequence[dict], more: int, new: int) -> dict:
    return {"changed": [{"identity": i["identity"], "kept": i["kept"],
                         "fields": [{"path": c.path, "change": c.kind, "old": c.old, "new": c.new} for c in i["fields"]]}
                        for i in items], "changed_not_shown": more, "new": new}
