"""`replenit quota`: the key's quota now, the requests each entity used over the last 24 hours, and
the hours in which demand exceeded the hour's limit (docs/planning.md). Reads only: sends nothing."""

import argparse
import json
import os
import sys

from replenit_pipelines.console.tables import add_output_flags

QUOTA_EPILOG = """\
Reads the quota ledgers in $REPLENIT_STATE_DIR/quota (one per key, labelled by a digest, never
the key; the one of REPLENIT_BASE_URL + REPLENIT_API_KEY is named by REPLENIT_KEY_NAME) and the
sync_runs of every state store in $REPLENIT_STATE_DIR: its own (instance `replenit`: the Dagster
component's default key prefix, and `replenit sync`) and each subfolder's (a component instance of
another key prefix keeps its state in $REPLENIT_STATE_DIR/<prefix>): each instance's requests per
entity are shown. Scheduled demand comes from the code location's schedules and each entity's
median requests per run over the last 24 hours.

exit codes:
  0  the view was printed
  2  there is no state yet (no quota ledger and no state store), or a setting is wrong
"""


def code_location_schedules() -> list:
    """The code location's schedules as lib.plan.Schedule values, for plans and the quota view of a
    command (loads the Dagster definitions: about a second). A broken setting leaves them out."""
    try:
        from replenit_pipelines.component.quota import key_schedules
        from replenit_pipelines.definitions import defs
        from replenit_pipelines.lib.settings import Settings

        # The schedules of the key the settings name (every tenant on it shares its quota).
        return key_schedules(defs().get_repository_def(), Settings.from_env().pool_name)
    except Exception as exc:  # any error: a broken mapping must not hide the quota
        # Dagster wraps the cause ("Error while building definitions for replenit[0]:" and a tree):
        # the innermost error is the one that says what to fix.
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        print(f"(schedules not read: {str(cause).splitlines()[0] if str(cause) else type(cause).__name__}; "
              "scheduled demand is left out)", file=sys.stderr)
        return []


def _quota(args: argparse.Namespace) -> int:
    from replenit_pipelines.lib.contract.api import parse_limits
    from replenit_pipelines.lib.delivery.quota import ledger_name
    from replenit_pipelines.lib.plan import current_quota_view, instance_state_stores, quota_text
    from replenit_pipelines.lib.settings import DEFAULT_LIMITS, Settings

    settings = Settings.from_env()
    limits = parse_limits(args.limits or settings.limits or DEFAULT_LIMITS)
    names = {}
    key = os.environ.get("REPLENIT_API_KEY")
    if key:  # only hashed, to name this key's ledger; never printed
        names[ledger_name(settings.base_url, key).removesuffix(".json")] = settings.key_label
    # Every instance's state store (docs/component.md: one folder an instance); on Postgres, the URL's.
    stores = instance_state_stores(settings.state_dir) if settings.state_url is None else settings.state_store_path
    view = current_quota_view(settings.quota_dir, limits, stores,
                              [] if args.no_schedules else code_location_schedules(), names)
    if args.json:
        print(json.dumps(view))
    elif args.text:
        print(quota_text(view))
    else:
        print_quota_tables(view, "csv" if args.csv else "table", args.wide)
    return 0


def quota_tables(view: dict) -> dict[str, list[dict]]:
    """The quota view as named tables (title -> rows): the key's windows, each entity's requests,
    the hours over the long window's limit, and any other list of rows the view holds (generic, so
    a view that gains a section is shown without a change here)."""
    windows = [{"key": k["key"], "name": k.get("name") or "", "window_s": w["seconds"], "spent": w["spent"],
                "limit": w["limit"], "remaining": w["remaining"], "resets_in_s": w["resets_in_s"],
                "blocked_for_s": k["blocked_for_s"], "server_behind_s": k.get("server_clock_behind_s", 0.0)}
               for k in view["keys"] for w in k["windows"]]
    per_run = view.get("expected_requests_per_run", {})
    entities = [{**e, "median_per_run": per_run.get(e["entity"])} for e in view["requests_last_24h"]]
    by = ("instance and entity (each instance's state store's sync_runs)" if any("instance" in e for e in entities)
          else "entity (the state store's sync_runs)")
    limit = view["long_window"]["limit"]
    hours = ([{"when": "recorded", **h} for h in view["hours_over_limit_past_24h"]]
             + [{"when": "scheduled (next 24 h)", **h} for h in view["hours_over_limit_next_24h"]])
    tables = {f"Quota at {view['at']}, per key and window:": windows,
              f"Requests over the last 24 hours, per {by}:": entities,
              f"Hours over {limit:,} requests (recorded, and scheduled for the next 24 hours):": hours}
    known = {"keys", "requests_last_24h", "hours_over_limit_past_24h", "hours_over_limit_next_24h"}
    for name, value in view.items():
        if name not in known and isinstance(value, list) and all(isinstance(r, dict) for r in value):
            tables[f"{name.replace('_', ' ').capitalize()}:"] = value
    return tables


def print_quota_tables(view: dict, fmt: str, wide: bool) -> None:
    from replenit_pipelines.console.tables import print_table

    tables = quota_tables(view)
    if fmt == "csv":  # CSV is one table: the key's windows
        print_table(next(iter(tables.values())), "csv")
        return
    for title, rows in tables.items():
        print_table(rows, "table", wide, title)


def register(sub: "argparse._SubParsersAction") -> None:
    q = sub.add_parser("quota", help="the key's quota now, requests per entity over 24 h, hours over the hour's limit",
                       description="Spent and remaining in each quota window now, per key; the requests each entity "
                                   "used over the last 24 hours; the hours in which demand exceeded the hour's limit.",
                       epilog=QUOTA_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_output_flags(q)
    q.add_argument("--text", action="store_true", help="the view in sentences, as before the tables")
    q.add_argument("--limits", default=None, help="REQUESTS/SECONDS windows (default: REPLENIT_LIMITS, else 100/60,5000/3600)")
    q.add_argument("--no-schedules", action="store_true", help="do not load the Dagster definitions for the schedules")
    q.set_defaults(func=_quota)
