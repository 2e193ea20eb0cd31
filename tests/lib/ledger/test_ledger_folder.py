"""Where a scope's ledger file lives (docs/deploying.md: `ledger/<scope>/<entity>.sqlite`): a
readable, stable folder name. A name that changed between versions would orphan every ledger on
disk: the next sync would resend everything it had already delivered."""

from replenit_pipelines.lib.ledger import SqliteLedger

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_a_scopes_ledger_folder_is_its_host_and_tenant_made_file_safe_then_a_digest(tmp_path):
    ledger = SqliteLedger.open(tmp_path, "https://API.replen.it:443/", TENANT.upper(), "customers")
    try:
        assert ledger.path == tmp_path / "ledger" / f"api.replen.it_{TENANT}-43b4cf5c" / "customers.sqlite"
        assert ledger.path.is_file()
    finally:
        ledger.close()
    sandbox = SqliteLedger.open(tmp_path, "http://127.0.0.1:8765", TENANT, "orders")
    try:  # ":" and "|" (any run of characters other than letters, digits, "." and "-") become one "_"
        assert sandbox.path.parent.name == f"127.0.0.1_8765_{TENANT}-543442cd"
    finally:
        sandbox.close()
