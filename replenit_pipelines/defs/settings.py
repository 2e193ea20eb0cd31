"""Settings read when definitions load. None is a secret: keys and tenants are read at run
launch through EnvVar (see resources.py)."""

import os
from pathlib import Path

import replenit_pipelines
from replenit_pipelines.lib import settings as lib_settings

PACKAGE_DIR = Path(replenit_pipelines.__file__).parent
DEMO_MAPPING = PACKAGE_DIR / "mappings" / "demo.yaml"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8765"


def state_dir() -> Path:
    return lib_settings.state_dir()  # one default for every entry point


def mapping_path() -> Path:
    return Path(os.environ.get("REPLENIT_MAPPING") or DEMO_MAPPING)


def warehouse_path() -> str:
    return os.environ.get("REPLENIT_WAREHOUSE") or str(state_dir() / "demo" / "warehouse.duckdb")


def pool_name() -> str:
    """One pool per API key, named by a label (never the key): REPLENIT_KEY_NAME."""
    return "replenit-" + (os.environ.get("REPLENIT_KEY_NAME") or "default")


def partitions_start() -> str:
    return lib_settings.partitions_start()


def customer_priority() -> str:
    """How the tenant matches customers (REPLENIT_CUSTOMER_PRIORITY: email, the default, or customerid)."""
    return lib_settings.customer_priority()
