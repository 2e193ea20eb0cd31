"""The component's YAML fields: each one's check, with an error that names the field and the fix.

Dagster checks a `defs.yaml` against the component's JSON schema only loosely (every field also
takes any string, for templates) and, with two instances of one type, only one of them (research
note A2); so every field is checked here, when the definitions load (`dg check defs`, `dg list
defs`, a code server). A check raised in a field's Resolver is shown by Dagster with the file, the
line and the field. No check ever repeats a value that could be a secret: the tenant block takes
env var *names*, and is read without rendering templates (`{{ env.X }}` would put the value here).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import fields as dataclass_fields
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field

from replenit_pipelines.component.site import (
    DEFAULT_FRESHNESS,
    SYNC_ENTITIES,
    Backfills,
    Freshness,
    GateDefaults,
    NearRealTime,
)
from replenit_pipelines.lib.contract.api import parse_limits
from replenit_pipelines.lib.contract.entities import ENTITIES
from replenit_pipelines.lib.contract.identity import CUSTOMER_PRIORITIES

ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
NAME_PART = re.compile(r"[A-Za-z0-9_]+")
CHILD_ARRAYS = {spec.children_field.name: entity for entity, spec in ENTITIES.items() if spec.children_field is not None}
AUTOMATIONS = ("schedules", "after_upstream", "schedules_and_upstream", "manual")
STATUSES = ("running", "stopped")


class TenantBlock(BaseModel):
    """`tenant:` in YAML: the names of the environment variables holding the tenant id and the key.
    Loose on purpose (any key, any value): the component checks it itself, so that no error repeats
    a value pasted here (tenant_problem)."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    id_env: Any = Field(default=None, description="The environment variable holding the tenant id (a GUID), e.g. "
                                                  "REPLENIT_TENANT_ID.")
    key_env: Any = Field(default=None, description="The environment variable holding the API key, e.g. REPLENIT_API_KEY. "
                                                   "Never the key.")
    key_label: Any = Field(default=None, description="A label for the key (never the key): the key is replenit-<label> "
                                                     "in Dagster (its syncs' replenit/key tag, the prefix of its bulk jobs' pools); "
                                                     "tenants on one key share its quota.")


class Tenant(BaseModel):
    """The tenant block, checked."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    id_env: str
    key_env: str
    key_label: str | None = None


def env_name_problem(field: str, value: Any, example: str) -> str | None:
    """Why `value` is not an environment variable's name; never repeats it (it may be a pasted secret)."""
    short = field.rsplit(".", 1)[-1]
    if not isinstance(value, str) or not value.strip():
        return f"{field} must be the name of an environment variable, e.g. {short}: {example}"
    value = value.strip()
    if "{{" in value:
        return (f"{field} takes the NAME of an environment variable, not a template (a template would put its value in "
                f"the definitions): write {short}: {example}")
    looks_like_secret = (len(value) >= 20 and "_" not in value) or bool(re.search(r"\d", value) and "-" in value)
    if looks_like_secret or not ENV_NAME.fullmatch(value):
        return (f"{field} must name an environment variable (capitals, digits and _, e.g. {example}), not hold a value: "
                "put the id or the key in the environment and its variable's name here")
    return None


TENANT_KEYS = ("id_env", "key_env", "key_label")


def tenant_problem(raw: Any) -> tuple[str, str] | None:
    """(the key at fault, why) for a tenant block that cannot work; no message repeats a value."""
    if isinstance(raw, BaseModel):
        raw = {**raw.model_dump(exclude_none=True), **(raw.model_extra or {})}
    if not isinstance(raw, Mapping):
        return "", "tenant must be a block: tenant: {id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY}"
    unknown = sorted(k for k in raw if k not in TENANT_KEYS)
    if unknown:
        secret = any(word in str(unknown[0]).lower() for word in ("key", "id", "secret", "token"))
        return str(unknown[0]), (f"tenant.{unknown[0]}: never write an id or a key in YAML; set id_env and key_env to the "
                                 "names of the environment variables that hold them" if secret else
                                 f"tenant.{unknown[0]} is not a tenant setting; they are: {', '.join(TENANT_KEYS)}")
    for key, example in (("id_env", "REPLENIT_TENANT_ID"), ("key_env", "REPLENIT_API_KEY")):
        problem = env_name_problem(f"tenant.{key}", raw.get(key), example)
        if problem:
            return key, problem
    label = raw.get("key_label")
    if label is not None and (not isinstance(label, str) or not NAME_PART.fullmatch(label.replace("-", "_"))):
        return "key_label", ("tenant.key_label must be a short name of letters, digits, - and _ (e.g. brand_a): it names "
                             "the key in Dagster, replenit-<key_label>")
    return None


def resolve_tenant(context: dg.ResolutionContext, raw: Any) -> Tenant:
    """Read as written: templates are not rendered here (`{{ env.X }}` would put a secret in the definitions)."""
    problem = tenant_problem(raw)
    if problem:
        raise ValueError(problem[1])
    if isinstance(raw, BaseModel):
        raw = raw.model_dump()
    return Tenant(id_env=raw["id_env"].strip(), key_env=raw["key_env"].strip(), key_label=raw.get("key_label"))


def resolve_state_url_env(context: dg.ResolutionContext, raw: Any) -> str:
    problem = env_name_problem("state_url_env", raw, "BRAND_B_STATE_URL")
    if problem:
        raise ValueError(problem)
    return str(raw).strip()


def resolve_key_prefix(context: dg.ResolutionContext, raw: Any) -> tuple[str, ...]:
    value = context.resolve_value(raw)
    parts = value.split("/") if isinstance(value, str) else value
    if not isinstance(parts, Sequence) or isinstance(parts, str) or not parts or \
            not all(isinstance(p, str) and NAME_PART.fullmatch(p) for p in parts):
        raise ValueError("key_prefix must be one name or a list of names of letters, digits and _ (e.g. key_prefix: "
                         "brand_b, or [replenit, brand_b]): the sync assets are <key_prefix>/customers ...")
    return tuple(parts)


def resolve_path(field: str) -> Any:
    def resolve(context: dg.ResolutionContext, raw: Any) -> str:
        value = context.resolve_value(raw)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{field} must be a file path (relative to this defs.yaml's folder, or absolute; "
                             f"'{{{{ context.project_root }}}}/...' for the project's root)")
        return value.strip()

    return resolve


def resolve_mapping(context: dg.ResolutionContext, raw: Any) -> str | dict[str, Any]:
    value = context.resolve_value(raw)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, Mapping) and value:
        unknown = sorted(k for k in value if k not in (*SYNC_ENTITIES, "timezone"))
        if unknown:
            raise ValueError(f"mapping: {unknown[0]!r} is not an entity: an inline mapping has sections customers, "
                             "products and orders (and timezone), as a mapping file does (docs/configuration.md)")
        return dict(value)
    raise ValueError("mapping must be a mapping file's path (e.g. mapping: mapping.yaml, relative to this defs.yaml's "
                     "folder) or the mapping itself, inline (customers: {source: ..., fields: ...})")


def resolve_entities(context: dg.ResolutionContext, raw: Any) -> tuple[str, ...]:
    value = context.resolve_value(raw)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"entities must be a list of {', '.join(SYNC_ENTITIES)} (e.g. entities: [customers, orders])")
    unknown = [v for v in value if v not in SYNC_ENTITIES]
    if unknown:
        raise ValueError(f"entities: {unknown[0]!r} is not one of {', '.join(SYNC_ENTITIES)}")
    if len(set(value)) != len(value):
        raise ValueError("entities: each entity once")
    return tuple(e for e in SYNC_ENTITIES if e in value)


def _asset_key(field: str, raw: Any) -> dg.AssetKey:
    if isinstance(raw, str) and raw.strip() and not any(ch.isspace() for ch in raw.strip()):
        parts = raw.strip().split("/")
        if all(parts):
            return dg.AssetKey(parts)
    raise ValueError(f"{field}: {raw!r} is not an asset key: write it as Dagster shows it, parts joined by / "
                     "(e.g. analytics/dim_customers)")


def resolve_deps(context: dg.ResolutionContext, raw: Any) -> dict[str, tuple[dg.AssetKey, ...]]:
    value = context.resolve_value(raw)
    if not isinstance(value, Mapping):
        raise ValueError("deps must map an entity (customers, products, orders) or a child array (OrderItems, "
                         "ProductVariants) to the asset keys its table comes from, e.g. deps: {customers: "
                         "[analytics/dim_customers]}")
    out: dict[str, tuple[dg.AssetKey, ...]] = {}
    for name, keys in value.items():
        if name not in SYNC_ENTITIES and name not in CHILD_ARRAYS:
            raise ValueError(f"deps: {name!r} is neither an entity ({', '.join(SYNC_ENTITIES)}) nor a child array "
                             f"({', '.join(CHILD_ARRAYS)})")
        items = [keys] if isinstance(keys, str) else keys
        if not isinstance(items, Sequence) or not items:
            raise ValueError(f"deps.{name} must be a list of asset keys, e.g. [analytics/dim_customers]")
        out[name] = tuple(_asset_key(f"deps.{name}", k) for k in items)
    return out


def resolve_partitions_start(context: dg.ResolutionContext, raw: Any) -> str:
    value = context.resolve_value(raw)
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    try:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return date.fromisoformat(value.strip()).strftime("%Y-%m-%d")
    except ValueError:
        pass
    raise ValueError(f"partitions_start must be a day, YYYY-MM-DD (e.g. partitions_start: \"2026-01-01\"), not {value!r}: "
                     "the first day (UTC) a partition exists for")


def _choice(field: str, choices: tuple[str, ...]) -> Any:
    def resolve(context: dg.ResolutionContext, raw: Any) -> str:
        value = context.resolve_value(raw)
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        hint = " (YAML reads on, off, yes and no as true or false: write one of the words)" if isinstance(value, bool) else ""
        raise ValueError(f"{field} must be one of {', '.join(choices)}, not {value!r}{hint}")

    return resolve


resolve_automation = _choice("automation", AUTOMATIONS)
resolve_status = _choice("automation_status", STATUSES)
resolve_customer_priority = _choice("customer_priority", CUSTOMER_PRIORITIES)


def _number(field: str, value: Any, low: float, high: float | None = None, whole: bool = False,
            above_low: bool = False) -> float:
    what = "a whole number" if whole else "a number"
    span = (f"more than {low:g}" if above_low else f"{low:g} or more") if high is None else f"{low:g} to {high:g}"
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if whole and number != int(number):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be {what}, {span} (got {value!r})") from None
    if number < low or (above_low and number == low) or (high is not None and number > high):
        raise ValueError(f"{field} must be {span} (got {value!r})")
    return int(number) if whole else number


def _per_entity(field: str, value: Any, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must map entities to values, e.g. {field}: {example}")
    unknown = [k for k in value if k not in SYNC_ENTITIES]
    if unknown:
        raise ValueError(f"{field}: {unknown[0]!r} is not one of {', '.join(SYNC_ENTITIES)}")
    return value


def resolve_batch_sizes(context: dg.ResolutionContext, raw: Any) -> dict[str, int]:
    value = _per_entity("batch_sizes", context.resolve_value(raw), "{customers: 500}")
    return {e: int(_number(f"batch_sizes.{e}", n, 1, ENTITIES[e].hard_max, whole=True)) for e, n in value.items()}


def resolve_lookback(context: dg.ResolutionContext, raw: Any) -> dict[str, float]:
    value = _per_entity("lookback_hours", context.resolve_value(raw), "{customers: 48, orders: 6}")
    return {e: _number(f"lookback_hours.{e}", n, 0, 24 * 366) for e, n in value.items()}


def resolve_freshness(context: dg.ResolutionContext, raw: Any) -> dict[str, Freshness | None]:
    value = context.resolve_value(raw)
    if value in (None, "off", "none", False):
        return {e: None for e in SYNC_ENTITIES}
    value = _per_entity("freshness", value, "{customers: {fail_hours: 27, warn_hours: 25}}")
    out: dict[str, Freshness | None] = {}
    for entity, block in value.items():
        if block in (None, "off", "none", False):
            out[entity] = None
            continue
        if not isinstance(block, Mapping) or not set(block) <= {"fail_hours", "warn_hours"} or "fail_hours" not in block:
            raise ValueError(f"freshness.{entity} must be {{fail_hours: H, warn_hours: H}} (warn_hours optional) or off")
        fail = _number(f"freshness.{entity}.fail_hours", block["fail_hours"], 0, above_low=True)
        warn = block.get("warn_hours")
        warn_hours = _number(f"freshness.{entity}.warn_hours", warn, 0, above_low=True) if warn is not None else None
        if warn_hours is not None and warn_hours >= fail:
            raise ValueError(f"freshness.{entity}: warn_hours ({warn_hours:g}) must be less than fail_hours ({fail:g})")
        out[entity] = Freshness(fail, warn_hours)
    return {**{e: DEFAULT_FRESHNESS[e] for e in SYNC_ENTITIES}, **out}


GATE_RANGES: dict[str, tuple[float, float | None, bool]] = {  # low, high, whole
    "min_quarantined_rows": (0, None, True), "ceiling_share": (0, 1, False), "baseline_runs": (1, None, True),
    "baseline_factor": (1, None, False), "baseline_margin": (0, 1, False), "max_quarantine_share": (0, 1, False),
}


def resolve_gate(context: dg.ResolutionContext, raw: Any) -> GateDefaults:
    value = context.resolve_value(raw)
    known = [f.name for f in dataclass_fields(GateDefaults)]
    if not isinstance(value, Mapping):
        raise ValueError("gate must be a block, e.g. gate: {mode: fixed, max_quarantine_share: 0.1} (docs/operating.md)")
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ValueError(f"gate.{unknown[0]} is not a gate setting; they are: {', '.join(known)}")
    out: dict[str, Any] = {}
    for name, v in value.items():
        if name == "mode":
            if v not in ("baseline", "fixed"):
                raise ValueError(f"gate.mode must be baseline or fixed, not {v!r}")
            out[name] = v
        else:
            low, high, whole = GATE_RANGES[name]
            out[name] = _number(f"gate.{name}", v, low, high, whole=whole)
    return GateDefaults(**out)


def resolve_group(context: dg.ResolutionContext, raw: Any) -> str:
    value = context.resolve_value(raw)
    if isinstance(value, str) and NAME_PART.fullmatch(value):
        return value
    raise ValueError(f"group must be a name of letters, digits and _ (Dagster's rule for groups), not {value!r}")


OWNER = re.compile(r"team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+\.[^@\s]+")


def resolve_owners(context: dg.ResolutionContext, raw: Any) -> tuple[str, ...]:
    value = context.resolve_value(raw)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(o, str) for o in value):
        raise ValueError("owners must be a list of emails or team:NAME, e.g. owners: [team:crm, ada@example.com]")
    bad = [o for o in value if not OWNER.fullmatch(o)]
    if bad:
        raise ValueError(f"owners: {bad[0]!r} is neither an email nor team:NAME (Dagster's owner forms)")
    return tuple(value)


def resolve_base_url(context: dg.ResolutionContext, raw: Any) -> str:
    value = context.resolve_value(raw)
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be the Ingestion API's address, e.g. https://api.replen.it (got {value!r})")
    return value.rstrip("/")


def resolve_limits(context: dg.ResolutionContext, raw: Any) -> str:
    value = context.resolve_value(raw)
    try:
        parse_limits(str(value))
    except ValueError as exc:
        raise ValueError(f"limits: {exc} (or off for an unlimited sandbox)") from None
    return str(value)


def resolve_near_real_time(context: dg.ResolutionContext, raw: Any) -> NearRealTime | None:
    """`near_real_time: {interval_seconds: 60, status: running}` (each optional), `on`, or `off` (the default)."""
    value = context.resolve_value(raw)
    if value in (None, False, "off", "no", "none"):
        return None
    if value in (True, "on", "yes"):
        return NearRealTime()
    if not isinstance(value, Mapping) or not set(value) <= {"interval_seconds", "status"}:
        raise ValueError(f"near_real_time must be on, off, or {{interval_seconds: 60, status: running}} (each key optional), "
                         f"not {value!r}")
    interval = value.get("interval_seconds", 60)
    seconds = int(_number("near_real_time.interval_seconds", interval, 1, 3600, whole=True))
    status = value.get("status")
    if status is not None and (not isinstance(status, str) or status.strip().lower() not in STATUSES):
        raise ValueError(f"near_real_time.status must be running or stopped (default: automation_status), not {status!r}")
    return NearRealTime(seconds, status.strip().lower() if status else None)  # type: ignore[arg-type]


def resolve_backfills(context: dg.ResolutionContext, raw: Any) -> Backfills:
    """`backfills: one_run_per_partition` (the default), `single_run`, or
    `{mode: single_run, max_partitions_per_run: 24}`."""
    value = context.resolve_value(raw)
    modes = ("one_run_per_partition", "single_run")
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, Mapping) or not set(value) <= {"mode", "max_partitions_per_run"} or \
            str(value.get("mode", "single_run")).strip().lower() not in modes:
        raise ValueError(f"backfills must be one of {', '.join(modes)}, or {{mode: single_run, max_partitions_per_run: 24}}, "
                         f"not {value!r}")
    single = str(value.get("mode", "single_run")).strip().lower() == "single_run"
    cap = value.get("max_partitions_per_run")
    if cap is not None and not single:
        raise ValueError("backfills.max_partitions_per_run is for mode: single_run (one run a partition has no ranges)")
    return Backfills(single, int(_number("backfills.max_partitions_per_run", cap, 1, whole=True)) if cap is not None else None)
