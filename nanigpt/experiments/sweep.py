"""`nanigpt sweep`: resolve every member first, then train the ones whose work is left.

Before anything runs, every member resolves (and passes the pre-flight checks that need no
device): one bad member is an error naming the member and its token, and nothing is written.
Members with the same hash are one run. Then the sweep's record goes to `runs/sweeps/<hash>.json`
and each member that needs it trains through the same lifecycle as `nanigpt train`: a finished
one is skipped, an interrupted one resumes, a failed one is retried only when asked (a diverged
run fails again). A member that fails does not stop the others; Ctrl-C stops the sweep, and
running it again picks up where it stopped.

By default members run one after another in this process (torch is imported once); `--jobs N`
runs N at once in worker processes, `--executor local|slurm` through submitit (`executors.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nanigpt.conf import ConfigError, Registry, Resolved, short_hash
from nanigpt.config import RunConfig, resolve
from nanigpt.experiments import member as outcome
from nanigpt.experiments.axes import Axis, Member, SweepError, members, parse_sweep
from nanigpt.experiments.record import sweep_hash, write_sweep
from nanigpt.store import RunStore, StoreError
from nanigpt.store.lifecycle import blamed

MAX_MEMBERS = 256
_WAIT_POLL_S = 1.0  # how often a member locked by another process is looked at again


@dataclass
class Plan:
    """A sweep resolved: its axes, its members and each member's resolved spec."""

    tokens: list[str]
    axes: list[Axis]
    members: list[Member]
    resolved: list[Resolved]

    @property
    def hash(self) -> str:
        """The sweep's own content address (its axes and member hashes)."""
        record = self.record()
        return sweep_hash(record["axes"], record["members"])

    def hash_of(self, m: Member) -> str:
        return self.resolved[m.number - 1].hash

    def first_with(self) -> dict[str, int]:
        """Run hash -> the number of the first member that resolves to it."""
        out: dict[str, int] = {}
        for m in self.members:
            out.setdefault(self.hash_of(m), m.number)
        return out

    def unique(self) -> list[Member]:
        """The members that are runs of their own (the first of each hash)."""
        return [m for m in self.members if self.first_with()[self.hash_of(m)] == m.number]

    def dead_tokens(self) -> list[tuple[str, str, str]]:
        """(sweep token, a later one that undid it, where) for tokens that do nothing, once each
        over all members: `where` is "" when it does nothing in every member that has it, else
        " in members 2, 4"."""
        dead: dict[str, tuple[str, list[int]]] = {}
        has: dict[str, int] = {}
        for m, r in zip(self.members, self.resolved):
            origin = dict(zip(m.tokens, m.origins))
            for o in set(m.origins):
                has[o] = has.get(o, 0) + 1
            for tok, later in r.dead_tokens():
                dead.setdefault(origin.get(tok, tok), (origin.get(later, later), []))[1].append(m.number)
        return [(tok, later, "" if len(ns) == has.get(tok) else f" in member(s) {', '.join(map(str, ns))}")
                for tok, (later, ns) in dead.items()]

    def record(self) -> dict:
        return {
            "tokens": list(self.tokens),
            "axes": [{"token": a.token, "name": a.name, "values": list(a.labels), "group": a.group} for a in self.axes],
            "members": [{"number": m.number, "hash": self.hash_of(m), "tokens": list(m.tokens), "values": m.values}
                        for m in self.members],
        }


def _in_member(e: ConfigError, m: Member) -> ConfigError:
    """`e` prefixed with the member it is about: `member 3 (lr=-1, optim=muon): in `lr=-1`: ...`."""
    values = ", ".join(f"{k}={v}" for k, v in m.values.items())
    e.message = f"member {m.number} ({values}): " + (f"in `{e.token}`: " if e.token else "") + e.message
    e.token = None
    return e


def plan_sweep(tokens: list[str], store: RunStore, registry: Registry, *, max_members: int = MAX_MEMBERS,
               rt: Any = None) -> Plan:
    """Every member of the sweep `tokens`, resolved; with runtime options `rt`, each distinct run
    also passes the pre-flight checks that need no device (data present, batch divides)."""
    if not tokens:
        raise SweepError("a sweep needs a spec", suggestion="e.g. nanigpt sweep preset:tiny lr=1e-3,3e-3")
    items, axes = parse_sweep(tokens, RunConfig, registry.patches)
    ms = members(items, axes, max_members)
    resolved = []
    for m in ms:
        try:
            resolved.append(resolve(list(m.tokens), runs=store, registry=registry))
        except ConfigError as e:
            raise _in_member(e, m) from None
    plan = Plan(list(tokens), axes, ms, resolved)
    if rt is not None:
        from nanigpt.training.preflight import check_run

        for m in plan.unique():
            r = plan.resolved[m.number - 1]
            try:
                with blamed(r):
                    check_run(r.config, rt, 1)
            except ConfigError as e:
                raise _in_member(e, m) from None
    return plan


def state_of(store: RunStore, h: str) -> str:
    """new, finished, interrupted, failed or running: what a member's run is now."""
    if not (store.root / h).is_dir():
        return "new"
    try:
        st = store.run(h).status()["state"]
    except StoreError:
        return "unreadable"
    return "new" if st == "created" else st


def rows(plan: Plan, store: RunStore) -> list[dict]:
    """The `--dry-run` table: member, short hash, status, and its value on each axis."""
    first = plan.first_with()
    out = []
    for m in plan.members:
        h = plan.hash_of(m)
        status = state_of(store, h) if first[h] == m.number else f"same as #{first[h]}"
        out.append({"member": m.number, "hash": h, "short": short_hash(h), "status": status, **m.values})
    return out


@dataclass
class Result:
    """What a sweep did: one entry per distinct run, by outcome."""

    outcomes: dict[int, dict] = field(default_factory=dict)  # member number -> run_member's result
    skipped: dict[int, str] = field(default_factory=dict)  # member number -> why (finished, failed)
    interrupted: bool = False

    def count(self, what: str) -> int:
        return sum(1 for r in self.outcomes.values() if r["outcome"] == what)

    @property
    def failed(self) -> list[int]:
        return [n for n, r in self.outcomes.items() if r["outcome"] == outcome.FAILED]


def run_sweep(plan: Plan, flags: dict[str, Any], store: RunStore, *, jobs: int = 1, executor: str | None = None,
              slurm: Any = None, retry_failed: bool = False, say: Callable[[str], None],
              out: Any = None) -> Result:
    """Record the sweep and train each distinct member whose work is left. `flags` are the
    runtime flags by name, passed to every member. `say` gets one line per member; `out` the
    progress of members trained in this process."""
    write_sweep(store, plan.record())
    result = Result()
    todo: list[Member] = []
    for m in plan.unique():
        st = state_of(store, plan.hash_of(m))
        if st == "finished":
            result.skipped[m.number] = "finished"
        elif st == "failed" and not retry_failed:
            result.skipped[m.number] = "failed (not retried without --retry-failed)"
        else:
            todo.append(m)
    for n, why in result.skipped.items():
        say(_line(plan, plan.members[n - 1], f"skipped: {why}"))
    if not todo:
        return result
    locked: list[Member] = []

    def done(m: Member, r: dict) -> None:
        if r["outcome"] == outcome.LOCKED and executor is None:
            locked.append(m)
            say(_line(plan, m, "being trained by another process; waiting for it at the end"))
            return
        if r["outcome"] == outcome.LOCKED:  # a job elsewhere does not wait on this machine's behalf
            result.skipped[m.number] = "being trained by another process"
            say(_line(plan, m, "skipped: being trained by another process"))
            return
        result.outcomes[m.number] = r
        say(_line(plan, m, _describe(r)))

    runs_dir = str(store.root.resolve())
    try:
        _execute(todo, plan, flags, runs_dir, jobs=jobs, executor=executor, slurm=slurm, done=done, out=out)
        for m in locked:  # trained by a concurrent sweep or train here: wait, then resume or report it
            _wait_unlocked(store, plan.hash_of(m))
            done(m, outcome.run_member(list(m.tokens), flags, runs_dir, out=out))
    except KeyboardInterrupt:
        result.interrupted = True
    result.interrupted |= any(r["outcome"] == outcome.INTERRUPTED for r in result.outcomes.values())
    return result


def _execute(todo: list[Member], plan: Plan, flags: dict[str, Any], runs_dir: str, *, jobs: int,
             executor: str | None, slurm: Any, done: Callable[[Member, dict], None], out: Any) -> None:
    if executor is None and jobs <= 1:
        for m in todo:
            r = outcome.run_member(list(m.tokens), flags, runs_dir, out=out)
            done(m, r)
            if r["outcome"] == outcome.INTERRUPTED:
                raise KeyboardInterrupt
        return
    from nanigpt.experiments.executors import Job, run_pool

    jobs_list = [Job(m.number, plan.hash_of(m), list(m.tokens)) for m in todo]
    by_number = {m.number: m for m in todo}

    def job_done(job: Job, r: dict) -> None:
        done(by_number[job.number], r)

    if executor is None:
        run_pool(jobs_list, flags, runs_dir, jobs, job_done)
        return
    from nanigpt.experiments.record import sweeps_dir
    from nanigpt.experiments.slurm import SlurmOptions, run_submitit

    folder = sweeps_dir(RunStore(runs_dir)) / f"{plan.hash}.jobs"
    run_submitit(jobs_list, flags, runs_dir, jobs, job_done, cluster=executor, slurm=slurm or SlurmOptions(),
                 folder=folder)


def _wait_unlocked(store: RunStore, h: str) -> None:
    while store.run(h).status()["state"] == "running":
        time.sleep(_WAIT_POLL_S)


def _line(plan: Plan, m: Member, what: str) -> str:
    values = " ".join(f"{k}={v}" for k, v in m.values.items())
    return f"[{m.number}/{len(plan.members)}] {short_hash(plan.hash_of(m))}  {values}: {what}"


def _describe(r: dict) -> str:
    from nanigpt.store import format_loss

    losses = f", train loss {format_loss(r.get('train_loss'))}" if r.get("train_loss") is not None else ""
    if r.get("val_loss") is not None:
        losses += f", val loss {format_loss(r['val_loss'])}"
    if r["outcome"] == outcome.FINISHED:
        return f"finished at step {r.get('step')}{losses}"
    if r["outcome"] == outcome.DONE:
        return f"already finished{losses}"
    return f"{r['outcome']}: {r.get('message') or ''}".rstrip(": ")
