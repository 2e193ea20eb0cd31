"""The quarantine gate: should a window's valid rows be held back because too many were quarantined?

The gate is there to catch a broken upstream (a mapping error, a bad deploy), not the steady dirt
every real warehouse has (5-7% is common). So by default (`baseline`) it trips on what is abnormal
for the entity: a share far above its recent runs, or above a high absolute ceiling whatever the
history. `fixed` keeps the older rule, one absolute share. In both modes a window needs at least
`min_quarantined_rows` quarantined rows to trip, so a few bad rows in a small window never hold
back its good ones.
"""

from dataclasses import dataclass
from typing import Literal

GateMode = Literal["baseline", "fixed"]


def gate_mode(text: str) -> GateMode:
    """A gate mode a person wrote (a run config, a setting), checked."""
    if text == "baseline":
        return "baseline"
    if text == "fixed":
        return "fixed"
    raise ValueError(f"gate must be 'baseline' or 'fixed', not {text!r}")


@dataclass(frozen=True)
class GatePolicy:
    mode: GateMode = "baseline"
    min_quarantined_rows: int = 20
    ceiling_share: float = 0.5  # baseline mode: above this share, always abnormal
    baseline_runs: int = 14  # baseline mode: the entity's last N runs that were not held back ...
    baseline_min_runs: int = 3  # ... and at least this many, or there is no baseline (ceiling only)
    baseline_factor: float = 3.0  # abnormal: above factor x baseline ...
    baseline_margin: float = 0.05  # ... and above baseline + margin (so a clean entity's 0.1% -> 0.4% is not)
    max_quarantine_share: float = 0.05  # fixed mode: above this share, held back

    def __post_init__(self) -> None:
        gate_mode(self.mode)


@dataclass(frozen=True)
class RecentRun:
    rows_read: int
    rows_superseded: int
    rows_quarantined: int


@dataclass(frozen=True)
class GateDecision:
    held_back: bool
    share: float  # quarantined / (read - superseded) in this window
    threshold: float  # the share above which this window trips
    baseline: float | None  # the entity's recent share, None without enough history
    baseline_runs: int  # how many runs the baseline was computed from
    reason: str  # one sentence: why it tripped, or why it did not

    def metadata(self, policy: GatePolicy) -> dict:
        return {"gate": policy.mode, "quarantine_share": round(self.share, 4), "threshold": round(self.threshold, 4),
                "baseline_share": round(self.baseline, 4) if self.baseline is not None else None,
                "baseline_runs": self.baseline_runs, "ceiling_share": policy.ceiling_share,
                "min_quarantined_rows": policy.min_quarantined_rows}


def baseline_share(history: list[RecentRun]) -> float | None:
    """Quarantined rows over considered rows, pooled over the recent runs: a small window's noisy
    share weighs as little as its rows."""
    considered = sum(r.rows_read - r.rows_superseded for r in history)
    return sum(r.rows_quarantined for r in history) / considered if considered else None


def decide(policy: GatePolicy, rows_read: int, rows_superseded: int, rows_quarantined: int,
           history: list[RecentRun]) -> GateDecision:
    """`history`: the entity's most recent runs that were not held back, newest first (a held-back
    run never enters the baseline, so a broken upstream cannot become normal by repetition)."""
    considered = rows_read - rows_superseded
    share = rows_quarantined / considered if considered else 0.0
    few = rows_quarantined < policy.min_quarantined_rows
    if policy.mode == "fixed":
        threshold = policy.max_quarantine_share
        held = share > threshold and not few
        why = f"{share:.1%} quarantined, fixed threshold {threshold:.1%}"
        return GateDecision(held, share, threshold, None, 0, why + _minimum(few, policy, share > threshold))
    recent = history[: policy.baseline_runs]
    baseline = baseline_share(recent) if len(recent) >= policy.baseline_min_runs else None
    if baseline is None:
        threshold = policy.ceiling_share
        basis = (f"no baseline yet ({len(recent)} earlier runs, {policy.baseline_min_runs} needed): "
                 f"ceiling {policy.ceiling_share:.0%}")
    else:
        threshold = min(policy.ceiling_share, max(baseline * policy.baseline_factor, baseline + policy.baseline_margin))
        basis = (f"baseline {baseline:.1%} over the last {len(recent)} runs; trips above {threshold:.1%} "
                 f"(the larger of {policy.baseline_factor:g}x baseline and baseline + {policy.baseline_margin:.0%}, "
                 f"at most the ceiling {policy.ceiling_share:.0%})")
    held = share > threshold and not few
    why = f"{share:.1%} quarantined ({rows_quarantined:,} of {considered:,} rows); {basis}"
    return GateDecision(held, share, threshold, baseline, len(recent), why + _minimum(few, policy, share > threshold))


def _minimum(few: bool, policy: GatePolicy, over: bool) -> str:
    if few and over:
        return f"; fewer than {policy.min_quarantined_rows} rows quarantined, so the window is sent"
    return ""
