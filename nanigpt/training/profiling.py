"""`--profile`: torch.profiler over a window of steps, written beside the run.

The window `A:B` (1-based, inclusive) is profiled after one warm-up step; the profiler exists only
from that warm-up step to B, so every other step runs exactly as without `--profile`. It writes
`runs/<hash>/profile/trace-steps-A-B.json` (Chrome/Perfetto trace format: open it at
ui.perfetto.dev or chrome://tracing) and `memory-steps-A-B.txt` (operators by memory allocated),
and prints the operators that took the most time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TextIO

from nanigpt.conf import ConfigError

# Steps 6 to 8 after a warm-up step 5: inside even preset:tiny's 30 steps, past the first steps'
# one-time costs (allocator growth, lazy initialisation).
DEFAULT_WINDOW = (6, 8)
_WINDOW = re.compile(r"([0-9]+):([0-9]+)")


def window(rt: Any, steps: int) -> tuple[int, int] | None:
    """The steps to profile (first, last), or None without `--profile`; a ConfigError naming the
    flag if the window is malformed or reaches past the run's last step."""
    if not rt.profile and rt.profile_steps is None:
        return None
    if rt.profile_steps is None:
        first, last = DEFAULT_WINDOW
        flag = f"the default window {first}:{last} of `--profile`"
    else:
        m = _WINDOW.fullmatch(rt.profile_steps)
        first, last = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        flag = f"`--profile-steps`={rt.profile_steps}"
        if not m or not 1 <= first <= last:
            raise ConfigError(f"{flag} is not a window of steps", path="profile_steps",
                              suggestion="write A:B with 1 <= A <= B, e.g. --profile-steps 10:12")
    if last > steps:
        raise ConfigError(f"{flag} ends after the run's last step, {steps}", path="profile_steps",
                          suggestion=f"choose a window within 1:{steps}, e.g. --profile-steps "
                                     f"{max(1, steps - 2)}:{steps}")
    return first, last


class StepProfiler:
    """Call `before(step)` and `after(step)` around each 0-based training step."""

    def __init__(self, steps: tuple[int, int], directory: Path | None, cuda: bool, out: TextIO) -> None:
        self.first, self.last = steps
        self.directory, self.cuda, self.out = directory, cuda, out
        self._prof: Any = None
        self.files: list[Path] = []

    def before(self, step: int) -> None:
        # 0-based `step` trains 1-based step step + 1: start one step early, for the warm-up
        if step + 1 == max(1, self.first - 1) and self._prof is None:
            import torch.profiler as tp

            warmup = 1 if self.first > 1 else 0
            activities = [tp.ProfilerActivity.CPU] + ([tp.ProfilerActivity.CUDA] if self.cuda else [])
            self._prof = tp.profile(
                activities=activities,
                schedule=tp.schedule(wait=0, warmup=warmup, active=self.last - self.first + 1, repeat=1),
                on_trace_ready=self._write,
                profile_memory=True,
            )
            self._prof.start()

    def after(self, step: int) -> None:
        if self._prof is None:
            return
        self._prof.step()
        if step + 1 == self.last:
            self._prof.stop()
            self._prof = None

    def close(self) -> None:
        """Stop a window the run left early (an error or an interrupt): nothing is written."""
        if self._prof is not None:
            self._prof.on_trace_ready = None
            self._prof.stop()
            self._prof = None

    def _write(self, prof: Any) -> None:
        name = f"steps-{self.first}-{self.last}"
        by_time = "self_cuda_time_total" if self.cuda else "self_cpu_time_total"
        averages = prof.key_averages()
        print(f"profile of steps {self.first}-{self.last}: operators by self time", file=self.out)
        print(averages.table(sort_by=by_time, row_limit=12), file=self.out, flush=True)
        if self.directory is None:
            return
        from nanigpt.atomic import atomic_write

        self.directory.mkdir(exist_ok=True)
        trace = self.directory / f"trace-{name}.json"
        tmp = self.directory / f".trace-{name}.json.tmp"
        prof.export_chrome_trace(str(tmp))
        tmp.replace(trace)
        memory = self.directory / f"memory-{name}.txt"
        atomic_write(memory, averages.table(sort_by="self_cpu_memory_usage", row_limit=25).encode())
        self.files = [trace, memory]
        print(f"profile written: {trace} (open at ui.perfetto.dev), {memory}", file=self.out, flush=True)
