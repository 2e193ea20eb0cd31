import uuid

import httpx
import pytest

from replenit_pipelines.lib.sandbox.process import start_sandbox_process

from replenit_pipelines.lib.sandbox import Sandbox


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


def new_tenant() -> str:
    return str(uuid.uuid4())
