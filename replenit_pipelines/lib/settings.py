"""Settings shared by every entry point (Dagster definitions, `replenit push`, `replenit state`,
`replenit check`, a client built in Python): one variable, one default each. No Dagster here."""

import os
from pathlib import Path

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, check_customer_priority

DEFAULT_STATE_DIR = ".replenit"  # relative to the working directory, as the docs say
DEFAULT_PARTITIONS_START = "2026-01-01"


def state_dir() -> Path:
    """REPLENIT_STATE_DIR, or ./.replenit: the state store (state.duckdb) and the quota ledgers (quota/)."""
    return Path(os.environ.get("REPLENIT_STATE_DIR") or Path.cwd() / DEFAULT_STATE_DIR)


def state_store_path() -> Path:
    return state_dir() / "state.duckdb"


def quota_dir() -> Path:
    return state_dir() / "quota"


def partitions_start() -> str:
    return os.environ.get("REPLENIT_PARTITIONS_START") or DEFAULT_PARTITIONS_START


def customer_priority() -> str:
    """How the tenant matches customers (REPLENIT_CUSTOMER_PRIORITY: email, the default, or customerid)."""
    return check_customer_priority(os.environ.get("REPLENIT_CUSTOMER_PRIORITY") or DEFAULT_CUSTOMER_PRIORITY)
