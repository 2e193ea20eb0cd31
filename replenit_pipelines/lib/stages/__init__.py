"""The stages of one sync, in order, one module each (docs/architecture.md draws them):

extract -> map -> validate -> gate -> retry -> diff -> plan -> deliver -> acknowledge -> deletes -> report

Each module has one public entry point; lib/sync/sequence.py calls them in this order, for a
window and for a reconciliation chunk alike. Where a stage's machinery is large it lives in its
own package (the warehouse reader in lib/warehouse/, the mapping and the checks in
lib/validation/, the HTTP client in lib/delivery/) and the stage module is its door.
"""
