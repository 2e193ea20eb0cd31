"""Settings read when definitions load. None is a secret: keys and tenants are read at run
launch through EnvVar (see resources.py). Each comes from lib/settings.py, the one place every
entry point (Dagster, `replenit push`, `replenit state`, `replenit check`) reads them from."""

from pathlib import Path

from replenit_pipelines.lib import settings as lib_settings

PACKAGE_DIR = lib_settings.PACKAGE_DIR
DEMO_MAPPING = lib_settings.DEMO_MAPPING
DEFAULT_SANDBOX_URL = lib_settings.DEFAULT_SANDBOX_URL


def state_dir() -> Path:
    return lib_settings.state_dir()


def mapping_path() -> Path:
    return lib_settings.mapping_path()


def warehouse_path() -> str:
    return lib_settings.warehouse_path()


def pool_name() -> str:
    """One pool per API key, named by a label (never the key): REPLENIT_KEY_NAME."""
    return "replenit-" + lib_settings.key_name()


def partitions_start() -> str:
    return lib_settings.partitions_start()


def customer_priority() -> str:
    """How the tenant matches customers (REPLENIT_CUSTOMER_PRIORITY: email, the default, or customerid)."""
    return lib_settings.customer_priority()
