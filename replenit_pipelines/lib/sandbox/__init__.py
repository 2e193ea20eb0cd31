"""The local Replenit sandbox: a real HTTP server that follows shared/replenit-api.md."""

from replenit_pipelines.lib.sandbox.faults import FaultConfig
from replenit_pipelines.lib.sandbox.ratelimit import parse_limits
from replenit_pipelines.lib.sandbox.server import DEFAULT_LIMITS, Sandbox, SandboxState, new_key

__all__ = ["DEFAULT_LIMITS", "FaultConfig", "Sandbox", "SandboxState", "new_key", "parse_limits"]
