"""The Dagster integration: `ReplenitSyncComponent` and the definitions it builds (docs/component.md).

Dagster wiring over lib/ (which has no Dagster): one instance of the component per tenant, in this
project's defs/ or in anyone's Dagster project."""

from replenit_pipelines.component.sync_component import ReplenitSyncComponent

__all__ = ["ReplenitSyncComponent"]
