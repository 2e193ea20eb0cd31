"""Faults on purpose, reproducible: request n's fate depends only on the seed and n."""

import random
from dataclasses import asdict, dataclass, fields


@dataclass
class FaultConfig:
    seed: int = 0
    latency_ms: tuple[float, float] = (0.0, 0.0)  # uniform between the two
    p500: float = 0.0
    p503: float = 0.0
    p429: float = 0.0  # spurious 429s, as another client of the key would cause
    p_hang: float = 0.0  # answer nothing for hang_seconds, then close
    p_drop: float = 0.0  # close the connection without an answer
    hang_seconds: float = 30.0
    # Report object-level errors under "" as the v1.1 docs show, instead of "[i]".
    unindexed_object_errors: bool = False

    def update(self, changes: dict) -> None:
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}: expected one of {sorted(known)}")
            setattr(self, name, tuple(value) if name == "latency_ms" else value)

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
