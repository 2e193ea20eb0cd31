"""The stages of one sync, in order, one module each (docs/architecture.md draws them):

extract -> map -> validate -> diff -> plan -> deliver -> acknowledge -> report

Each module has one public entry point; lib/sync/run.py:sync_window calls them in this order.
Where a stage's machinery is large it lives in its own package (the warehouse reader in
lib/warehouse/, the checks in lib/validation/, the HTTP client in lib/delivery/) and the stage
module is its door.
"""
