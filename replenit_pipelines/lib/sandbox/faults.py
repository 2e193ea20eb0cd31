"""Faults on purpose, reproducible: request n's fate depends only on the seed and n."""

import random
from dataclasses import asdict, dataclass, fields


@dataclass
class FaultConfig:
    seed: int = 0
    latency_ms: tuple[float, float] = (0.0, 0.0)  # uniform between the two
    # Uniform delay before a request is counted against the quota, as a slow network or a loaded
    # machine adds between the client's decision to send and the server's clock: a request sent
    # just before a window's end then lands in the next window.
    arrival_delay_ms: tuple[float, float] = (0.0, 0.0)
    p500: float = 0.0
    p503: float = 0.0
    p429: float = 0.0  # spurious 429s, as another client of the key would cause
    p_hang: float = 0.0  # answer nothing for hang_seconds, then close
    p_drop: float = 0.0  # close the connection without an answer
    hang_seconds: float = 30.0
    # Report object-level errors under "" as the v1.1 docs show, instead of "[i]".
    unindexed_object_errors: bool = False
    # The server's clock less the client's (seconds): its windows, X-RateLimit-Reset and Retry-After
    # follow its own clock, as a real server's whose clock is not the client's (negative: behind).
    clock_offset_s: float = 0.0
    # A 429's Retry-After as an HTTP date of the server's clock (RFC 9110's other form) instead of
    # seconds, without the exact figure: a client must read it against the answer's Date.
    retry_after_date: bool = False

    def update(self, changes: dict) -> None:
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}: expected one of {sorted(known)}")
            setattr(self, name, tuple(value) if name in ("latency_ms", "arrival_delay_ms") else value)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fate:
    latency_s: float
    fault: str | None  # None, "500", "503", "429", "hang", "drop"


def fate_of(config: FaultConfig, sequence: int) -> Fate:
    rng = random.Random(f"{config.seed}:{sequence}")
    low, high = config.latency_ms
    latency = rng.uniform(low, high) / 1000.0 if high > 0 else 0.0
    roll = rng.random()
    for name, p in (
        ("500", config.p500),
        ("503", config.p503),
        ("429", config.p429),
        ("hang", config.p_hang),
        ("drop", config.p_drop),
    ):
        if roll < p:
            return Fate(latency, name)
        roll -= p
    return Fate(latency, None)


def arrival_delay_of(config: FaultConfig, arrival: int) -> float:
    """Seconds request number `arrival` waits before it is counted (seeded like the fates)."""
    low, high = config.arrival_delay_ms
    if high <= 0:
        return 0.0
    return random.Random(f"{config.seed}:arrival:{arrival}").uniform(low, high) / 1000.0
