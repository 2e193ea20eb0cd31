"""The sandbox's state (tenants, keys, quotas, faults, stored records) and its response bodies."""

import base64
import secrets
import threading
import uuid
from dataclasses import dataclass, field

from replenit_pipelines.lib.contract.api import DOCUMENTED_LIMITS
from replenit_pipelines.lib.sandbox.faults import FaultConfig
from replenit_pipelines.lib.sandbox.ratelimit import KeyQuota, Window
from replenit_pipelines.lib.sandbox.store import Store

DEFAULT_LIMITS: list[Window] = list(DOCUMENTED_LIMITS)
PROBLEM_TYPE = "https://tools.ietf.org/html/rfc7231#section-6.5.1"


@dataclass
class Tenant:
    tenant_id: str
    customer_priority: str = "email"  # or "customerid"
    product_priority: str = "productid"  # or "sku"


@dataclass
class SandboxState:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    keys: dict[str, set[str]] = field(default_factory=dict)  # key -> tenant ids
    limits: list[Window] = field(default_factory=lambda: list(DEFAULT_LIMITS))
    faults: FaultConfig = field(default_factory=FaultConfig)
    store: Store = field(default_factory=Store)
    quotas: dict[str, KeyQuota] = field(default_factory=dict)
    sequence: int = 0
    arrivals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_tenant(
        self,
        tenant_id: str,
        key: str,
        customer_priority: str = "email",
        product_priority: str = "productid",
    ) -> None:
        tid = str(uuid.UUID(tenant_id))
        if customer_priority not in ("email", "customerid"):
            raise ValueError("customer_priority must be 'email' or 'customerid'")
        if product_priority not in ("productid", "sku"):
            raise ValueError("product_priority must be 'productid' or 'sku'")
        with self.lock:
            self.tenants[tid] = Tenant(tid, customer_priority, product_priority)
            self.keys.setdefault(key, set()).add(tid)

    def quota(self, key: str) -> KeyQuota:
        with self.lock:
            q = self.quotas.get(key)
            if q is None:
                q = self.quotas[key] = KeyQuota(self.limits)
            return q

    @property
    def time_scaled(self) -> bool:
        """Windows other than the documented quota: tests and benches, which get exact figures too."""
        return bool(self.limits) and [(int(n), float(sec)) for n, sec in self.limits] != DEFAULT_LIMITS

    def set_limits(self, limits: list[Window]) -> None:
        with self.lock:
            self.limits = list(limits)
            self.quotas.clear()

    def next_arrival(self) -> int:
        with self.lock:
            self.arrivals += 1
            return self.arrivals

    def next_sequence(self) -> int:
        with self.lock:
            self.sequence += 1
            return self.sequence

    def reset(self) -> None:
        self.store.reset()
        with self.lock:
            self.quotas.clear()
            self.sequence = 0


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(24)).decode()


def envelope(success: bool, message: str, data: dict | None = None) -> dict:
    return {"success": success, "message": message, "data": data or {}}


def problem(errors: dict[str, list[str]], status: int = 400, title: str | None = None) -> dict:
    return {
        "type": PROBLEM_TYPE,
        "title": title or "One or more validation errors occurred.",
        "status": status,
        "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
        "errors": errors,
    }
