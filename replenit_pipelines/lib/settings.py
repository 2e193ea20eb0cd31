"""Settings shared by every entry point (the Dagster definitions, `replenit push`, `replenit
state`, `replenit check`, a client built in Python): one variable, one default each. No Dagster
here; defs/settings.py reads these. None is a secret: the API key is only ever said to be set."""

import os
from pathlib import Path

import replenit_pipelines
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, check_customer_priority

PACKAGE_DIR = Path(replenit_pipelines.__file__).parent
DEMO_MAPPING = PACKAGE_DIR / "mappings" / "demo.yaml"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8765"
DEFAULT_STATE_DIR = ".replenit"  # relative to the working directory, as docs/configuration.md says
DEFAULT_PARTITIONS_START = "2026-01-01"


def state_dir() -> Path:
    """REPLENIT_STATE_DIR, or ./.replenit: the state store (state.duckdb) and the quota ledgers (quota/)."""
    return Path(os.environ.get("REPLENIT_STATE_DIR") or Path.cwd() / DEFAULT_STATE_DIR)


def state_store_path() -> Path:
    return state_dir() / "state.duckdb"


def quota_dir() -> Path:
    return state_dir() / "quota"


def mapping_path() -> Path:
    return Path(os.environ.get("REPLENIT_MAPPING") or DEMO_MAPPING)


def warehouse_path() -> str:
    return os.environ.get("REPLENIT_WAREHOUSE") or str(state_dir() / "demo" / "warehouse.duckdb")


def base_url() -> str:
    return os.environ.get("REPLENIT_BASE_URL") or DEFAULT_SANDBOX_URL


def key_name() -> str:
    """A label for the API key (REPLENIT_KEY_NAME), never the key: it names the key's Dagster pool."""
    return os.environ.get("REPLENIT_KEY_NAME") or "default"


def partitions_start() -> str:
    return os.environ.get("REPLENIT_PARTITIONS_START") or DEFAULT_PARTITIONS_START


def customer_priority() -> str:
    """How the tenant matches customers (REPLENIT_CUSTOMER_PRIORITY: email, the default, or customerid)."""
    return check_customer_priority(os.environ.get("REPLENIT_CUSTOMER_PRIORITY") or DEFAULT_CUSTOMER_PRIORITY)
