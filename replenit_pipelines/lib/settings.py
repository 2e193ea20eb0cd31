"""Settings shared by every entry point (the Dagster definitions, `replenit push`, `replenit
state`, `replenit check`, a client built in Python): one object, built once from the environment
by `Settings.from_env()`, one variable and one default per field. No Dagster here. The API key is
not a field: it is only ever said to be set (`api_key_set`); the client reads it when it is built.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, check_customer_priority
from replenit_pipelines.lib.postgres import StateUrl, state_url_from_env

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # replenit_pipelines/ (not imported: its __init__ names the component)
DEMO_MAPPING = PACKAGE_DIR / "mappings" / "demo.yaml"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8765"
DEFAULT_STATE_DIR = ".replenit"  # relative to the working directory, as docs/configuration.md says
DEFAULT_PARTITIONS_START = "2026-01-01"
DEFAULT_LIMITS = "100/60,5000/3600"
DEFAULT_RETRY_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Settings:
    state_dir: Path  # REPLENIT_STATE_DIR, or ./.replenit: state.duckdb, the ledgers and the quota ledgers (quota/)
    mapping_path: Path  # REPLENIT_MAPPING, or the demo mapping
    warehouse_path: str  # REPLENIT_WAREHOUSE, or the demo warehouse in the state folder
    base_url: str  # REPLENIT_BASE_URL, or the local sandbox
    base_url_set: bool  # REPLENIT_BASE_URL was set (a client from the environment requires it)
    tenant_id: str | None  # REPLENIT_TENANT_ID
    api_key_set: bool  # REPLENIT_API_KEY is set; never the key itself
    key_label: str  # REPLENIT_KEY_NAME: a label for the key, never the key; names it in Dagster
    limits: str | None  # REPLENIT_LIMITS: REQUESTS/SECONDS windows of the key's quota; None = documented
    partitions_start: str  # REPLENIT_PARTITIONS_START, YYYY-MM-DD
    customer_priority_text: str  # REPLENIT_CUSTOMER_PRIORITY as written (checked by customer_priority)
    customer_priority_set: bool
    retry_max_attempts: int = DEFAULT_RETRY_MAX_ATTEMPTS  # REPLENIT_RETRY_MAX_ATTEMPTS: deliveries of a failed record before it needs a person
    # REPLENIT_STATE_URL: postgresql://... moves the state store, the ledger and the quota ledger into
    # Postgres (docs/deploying.md); None keeps them as files in state_dir. Its repr masks the password.
    state_url: StateUrl | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        state_dir = Path(env.get("REPLENIT_STATE_DIR") or Path.cwd() / DEFAULT_STATE_DIR)
        return cls(
            state_dir=state_dir,
            mapping_path=Path(env.get("REPLENIT_MAPPING") or DEMO_MAPPING),
            warehouse_path=env.get("REPLENIT_WAREHOUSE") or str(state_dir / "demo" / "warehouse.duckdb"),
            base_url=env.get("REPLENIT_BASE_URL") or DEFAULT_SANDBOX_URL,
            base_url_set=bool(env.get("REPLENIT_BASE_URL")),
            tenant_id=env.get("REPLENIT_TENANT_ID") or None,
            api_key_set=bool(env.get("REPLENIT_API_KEY")),
            key_label=env.get("REPLENIT_KEY_NAME") or "default",
            limits=env.get("REPLENIT_LIMITS") or None,
            partitions_start=env.get("REPLENIT_PARTITIONS_START") or DEFAULT_PARTITIONS_START,
            customer_priority_text=env.get("REPLENIT_CUSTOMER_PRIORITY") or DEFAULT_CUSTOMER_PRIORITY,
            customer_priority_set=bool(env.get("REPLENIT_CUSTOMER_PRIORITY")),
            retry_max_attempts=_positive_int(env, "REPLENIT_RETRY_MAX_ATTEMPTS", DEFAULT_RETRY_MAX_ATTEMPTS),
            state_url=state_url_from_env(env),
        )

    @property
    def state_store_path(self) -> Path:
        return self.state_dir / "state.duckdb"

    @property
    def quota_dir(self) -> Path:
        return self.state_dir / "quota"

    @property
    def pool_name(self) -> str:
        """The API key in Dagster, named by its label (never the key): replenit-<label>, the prefix of its bulk jobs' pools."""
        return "replenit-" + self.key_label

    @property
    def customer_priority(self) -> str:
        """How the tenant matches customers (email, the default, or customerid); a bad value raises."""
        return check_customer_priority(self.customer_priority_text)


def partitions_start_day(text: str) -> datetime:
    """REPLENIT_PARTITIONS_START as the first partition's start (UTC midnight), read as Dagster's
    partitions read it (YYYY-MM-DD); a ValueError saying what to write otherwise."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"REPLENIT_PARTITIONS_START: {text!r} is not a date; write YYYY-MM-DD, e.g. 2026-01-01") from None


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={text!r}: expected a whole number of at least 1 (e.g. {name}={default})")
    return value
