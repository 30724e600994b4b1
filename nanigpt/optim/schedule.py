"""The learning-rate schedule: a multiplier of each group's peak lr at every step.

Pure Python (no torch), so that it is exact, cheap, and testable as a function of the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from nanigpt.optim.config import ScheduleConfig


@dataclass(frozen=True)
class LRSchedule:
    """`schedule(step)` -> lr multiplier in [0, 1] at the 0-based step, for step < steps.

    Warmup: (step + 1) / warmup_steps, so the first step already learns. After warmup:
    cosine from 1 down to min_lr_ratio at the last step; WSD (warmup-stable-decay): 1, then a
    linear decay over the last decay_steps steps to min_lr_ratio at the last step; constant: 1.
    """

    steps: int
    warmup_steps: int
    decay: Literal["cosine", "wsd", "constant"]
    min_lr_ratio: float
    decay_steps: int

    def __call__(self, step: int) -> float:
        if not 0 <= step < self.steps:
            raise ValueError(f"step {step} is outside the schedule's steps 0..{self.steps - 1}")
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.decay == "constant":
            return 1.0
        lo = self.min_lr_ratio
        if self.decay == "cosine":
            span = self.steps - 1 - self.warmup_steps
            progress = (step - self.warmup_steps) / span if span else 1.0
            value = lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            first = self.steps - self.decay_steps  # the first step below the peak
            remaining = 1.0 if step < first else 1.0 - (step - first + 1) / self.decay_steps
            # lo + (1 - lo) * remaining, not 1 - (1 - lo) * done: exactly lo at the last step.
            value = lo + (1.0 - lo) * remaining
        return min(1.0, max(lo, value))  # rounding must not step outside [lo, 1]


def lr_schedule(cfg: ScheduleConfig, steps: int) -> LRSchedule:
    """The schedule of `cfg` over a run of `steps` optimizer steps."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    if cfg.warmup_steps > steps:
        raise ValueError(f"`schedule.warmup_steps`={cfg.warmup_steps} is more than the run's {steps} steps")
    # At least one decaying step, so that WSD always ends at min_lr_ratio.
    decay_steps = min(steps, max(1, round(cfg.decay_fraction * steps)))
    return LRSchedule(steps, cfg.warmup_steps, cfg.decay, cfg.min_lr_ratio, decay_steps)
