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
