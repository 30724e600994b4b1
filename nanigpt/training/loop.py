"""The training loop: `train(cfg, rt, run, attempt)` trains one run to its last step, resuming if it can.

Everything that decides the numbers comes from the config: batch k is a function of (seed, k),
dropout is reseeded from (seed, step, rank) each step, the model is initialized from the seed on
the CPU. So the same config trains to the same loss curve, bit for bit on the CPU at a fixed
thread count, whether it ran straight through or was killed and resumed from a checkpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import torch
import xxhash

from nanigpt.conf import ConfigError, canonical_bytes, hash_bytes, short_hash
from nanigpt.config import RunConfig
from nanigpt.data.tokens import rank_slice
from nanigpt.liveline import LiveLine, duration, si
from nanigpt.training import checkpoint as ckpt
from nanigpt.training import profiling
from nanigpt.training import sinks
from nanigpt.training.preflight import global_sequences, micro_batch_for, check_run
from nanigpt.training.runfiles import RunFiles
from nanigpt.training.runtime import RuntimeOptions



@dataclass(frozen=True)
class Summary:
    """What a finished `train` reports (also printed to `out`)."""

    hash: str
    steps: int
    train_loss: float | None
    val_loss: float | None
    val_full: bool  # val_loss is over the whole val split (else over eval.batches batches)
    unigram_entropy: float  # nats per token of the val split's byte/token frequencies
    elapsed_s: float  # training wall time over all attempts
    tokens_per_s: float  # this attempt's training throughput (eval and compile excluded)
    compile_s: float | None
    resumed_from: int | None
    peak_memory_mb: float
    params: int
    files: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        if self.resumed_from == self.steps:  # killed after its last checkpoint: nothing was left to train
            head = f"run {short_hash(self.hash)}: {self.steps} steps in {duration(self.elapsed_s)}, all before this attempt"
        else:
            head = (
                f"run {short_hash(self.hash)}: {self.steps} steps in {duration(self.elapsed_s)}, "
                f"{si(self.tokens_per_s)} tokens/s"
                + (f" (compile {self.compile_s:.1f} s)" if self.compile_s is not None else "")
                + (f", resumed from step {self.resumed_from}" if self.resumed_from else "")
            )
        out = [head]
        losses = []
        if self.train_loss is not None:
            losses.append(f"train loss {self.train_loss:.4f}")
        if self.val_loss is not None:
            losses.append(f"val loss {self.val_loss:.4f}" + (" (whole val split)" if self.val_full else ""))
        losses.append(f"unigram entropy {self.unigram_entropy:.4f}")
        if self.val_loss is not None and self.unigram_entropy > 0:
            losses.append(f"ratio {self.val_loss / self.unigram_entropy:.3f}")
        out.append("  " + ", ".join(losses) + " (nats/token)")
        out.append(f"  params {si(self.params)}, peak memory {self.peak_memory_mb:.0f} MB")
        if self.files:
            where = os.path.commonpath(self.files) if len(self.files) > 1 else os.path.dirname(self.files[0])
            out.append(f"  files in {where}: " + ", ".join(os.path.relpath(f, where) for f in self.files))
        return out


def _seed_for(seed: int, stream: str, k: int, rank: int = 0) -> int:
    return xxhash.xxh3_64_intdigest(f"{seed}:{stream}:{k}:{rank}".encode()) & (2**63 - 1)


def _seed_dropout(seed: int, device: torch.device) -> None:
    """Seed the generator dropout draws from on `device`.

    Not torch.manual_seed: without CUDA initialized it queues a deferred seeding of every CUDA,
    XPU and MTIA device, stack trace included, on each call: per step, a leak and 0.2 ms.
    """
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        torch.cuda.default_generators[index].manual_seed(seed)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # ru_maxrss is the process's resident high-water mark, in kB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


class _Progress(LiveLine):
    """One live line on a terminal: step, loss, throughput, ETA. Silent when not wanted."""

    def __init__(self, mode: str, stream: TextIO, steps: int) -> None:
        super().__init__(mode == "on" or (mode == "auto" and stream.isatty()), stream, 60)
        self.steps = steps

    def update(self, step: int, loss: float, tok_s: float, eta_s: float, *, force: bool = False) -> None:
        if self.due(force):
            self.show(f"step {step}/{self.steps}  loss {loss:.4f}  {si(tok_s)} tok/s  ETA {duration(max(eta_s, 0.0))}")


def _config_identity(cfg: RunConfig, run: RunFiles | None) -> tuple[str, str]:
    canonical = canonical_bytes(cfg)
    h = hash_bytes(canonical)
    if run is not None and run.hash != h:
        raise ConfigError(f"this config hashes to {short_hash(h)} but the run directory is {short_hash(run.hash)}",
                          suggestion="train a run with the config it was created from")
    return h, canonical.decode()


def train(
    cfg: RunConfig,
    rt: RuntimeOptions,
    run: RunFiles | None,
    attempt: dict[str, Any] | None = None,
    *,
    out: TextIO = sys.stderr,
) -> Summary:
    """Train `cfg` into `run` (a `RunFiles`, or None for no files) and return the summary.

    Resumes from the newest checkpoint in `run.checkpoint_dir` unless `rt.fresh`. Fills
    `attempt` (the record the run's lifecycle appends to attempts.jsonl) with what only the trainer knows:
    the data fingerprint, the device, the micro batch. Raises `ConfigError` for anything wrong
    with the inputs, before the first step.
    """
    from nanigpt.builders import build
    from nanigpt.training import distributed, host

    t_start = time.perf_counter()
    # Idempotent: the CLI may have joined the torchrun job already to learn the world size.
    info = distributed.init(rt.device)
    world, rank, device = info.world_size, info.rank, info.device
    main = rank == 0
    sharded = info.distributed and rt.parallel == "fsdp"
    attempt = attempt if attempt is not None else {}
    if device.type == "cpu":
        attempt["malloc"] = host.tune_malloc(rt.tune_malloc)

    check_run(cfg, rt, world)
    if device.type == "cpu" and cfg.precision.autocast == "bfloat16":
        # Recorded, not judged: whether bfloat16 pays on a CPU takes more than its flags to tell
        # (a rule drawn from one machine's capped instruction sets was wrong on another CPU).
        attempt["cpu_bf16"] = host.cpu_bf16_units()
    micro = micro_batch_for(cfg, rt, world)
    n_seq = global_sequences(cfg)
    per_rank = n_seq // world
    accum = per_rank // micro
    T = cfg.model.block_size
    steps = cfg.train.steps
    config_hash, canonical = _config_identity(cfg, run)
    # Every rank resolved the spec on its own: one run needs one config on all of them.
    distributed.all_equal(config_hash, what="config hash")

    data = build(cfg.data, block_size=T, seed=cfg.train.seed, vocab_size=cfg.model.vocab_size)
    distributed.all_equal(data.fingerprint, what="data fingerprint")
    attempt.update(data_fingerprint=data.fingerprint, device=str(device), micro_batch=micro, grad_accum=accum,
                   threads=torch.get_num_threads())  # CPU results are bitwise repeatable per thread count

    # -- resume: find the newest checkpoint and check it belongs to this run and this data
    resume: ckpt.Found | None = None
    if run is not None and not rt.fresh:
        resume = ckpt.find(run.checkpoint_dir, config_hash=config_hash)
        if resume is not None:
            if sharded and not resume.sharded:
                raise ConfigError(
                    f"checkpoint {resume.path} was written by one process or DDP; FSDP resumes only its own "
                    "sharded checkpoints",
                    path="parallel",
                    suggestion="resume this run with --parallel ddp",
                )
            before = resume.meta["data"]["fingerprint"]
            if before != data.fingerprint and not rt.allow_data_change:
                raise ConfigError(
                    f"the data changed since this run's checkpoint at step {resume.step}: "
                    f"{data.description} has fingerprint {short_hash(data.fingerprint)}, the checkpoint {short_hash(before)}",
                    path="data",
                    suggestion="restore the data, pass --allow-data-change to resume on the new data, or --fresh",
                )
            if before != data.fingerprint:
                attempt["data_changed_from"] = before
    start = resume.step if resume is not None else 0
    # Rank 0 and the others read the checkpoint folder independently: they must agree on it.
    distributed.all_equal(str(start), what="step to resume from")

    # -- model, precision, execution wrappers, optimizer, schedule
    # The CPU generator makes the initial weights the same on every device and world size.
    model = build(cfg.model, generator=torch.Generator().manual_seed(_seed_for(cfg.train.seed, "init", 0)))
    model.to(device)
    if cfg.precision.fp8:
        from nanigpt.training import fp8

        # Only rank 0 speaks; the others' notices would repeat it world_size times.
        report = fp8.convert(model, cfg.precision, device, out=out if main else io.StringIO())
        attempt["fp8"] = report.attempt()
    if resume is not None and not resume.sharded:
        model.load_state_dict(resume.meta["model"])
    runner: torch.nn.Module = torch.compile(model) if rt.compile else model
    # FSDP replaces the parameters with sharded ones, so the optimizer is built after wrapping.
    runner = distributed.wrap(runner, rt, info)
    optimizer = build(cfg.optim, model=model)
    schedule = build(cfg.schedule, steps=steps)
    if resume is not None:
        if resume.sharded:
            distributed.load_sharded(resume.path, runner, optimizer)
        else:
            optimizer.load_state_dict(resume.meta["optimizer"])
        # No random generator state to restore: dropout is reseeded from (seed, step, rank) at
        # every step, batches and the initial weights come from their own seeded generators.
    params = sum(p.numel() for p in model.parameters())
    if run is not None and main:
        # Weights plus the optimizer's state, about twice their size once it has stepped (AdamW).
        weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        warning = ckpt.check_space(run.checkpoint_dir, 3 * weights, rt.keep_checkpoints)
        if warning is not None:
            print(f"Warning: {warning}", file=out, flush=True)

    def autocast() -> contextlib.AbstractContextManager:
        if cfg.precision.autocast == "bfloat16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward_backward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Accumulate the gradient of this rank's batch (x, y); returns its mean loss (a tensor)."""
        total = torch.zeros((), device=device)
        for j in range(accum):
            xb = x[j * micro : (j + 1) * micro].to(device, non_blocking=True)
            yb = y[j * micro : (j + 1) * micro].to(device, non_blocking=True)
            # Accumulating micro-steps skip DDP's gradient all-reduce; the last one syncs.
            with distributed.grad_sync(runner, sync=j == accum - 1):
                with autocast():
                    _, loss = runner(xb, yb)
                (loss / accum).backward()
            total += loss.detach().float()
        return total / accum

    def evaluate(full: bool) -> float:
        """Mean val loss over eval.batches fixed val batches, or over the whole val split."""
        model.eval()
        # (sum of losses x rows, rows); float64 where the device has it, so long evals do not drift.
        totals = torch.zeros(2, dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
        with torch.no_grad(), autocast():
            if full:
                mine = rank_slice(data.val_blocks, rank, world)
                # Every rank makes the same number of forward calls (FSDP gathers weights in each):
                # a rank whose share ran out runs block 0 and does not count it.
                most = -(-data.val_blocks // world)  # ceil: the largest rank share
                calls = -(-most // micro)
                starts = [mine.start + i * micro for i in range(calls)]
                batches = (
                    (data.val_block_batch(s, min(micro, mine.stop - s)), True) if s < mine.stop
                    else (data.val_block_batch(0, 1), False)
                    for s in starts
                )
            else:
                batches = ((data.val_batch(k, n_seq, rank=rank, world_size=world), True) for k in range(cfg.eval.batches))
            for (x, y), counted in batches:
                for j in range(0, x.size(0), micro):
                    xb, yb = x[j : j + micro].to(device), y[j : j + micro].to(device)
                    # Eager on purpose: the raw model needs no recompile for eval mode and odd shapes.
                    _, loss = model(xb, yb)
                    if counted:
                        totals[0] += loss.to(totals.dtype) * xb.size(0)
                        totals[1] += xb.size(0)
        model.train()
        totals = distributed.all_reduce_mean(totals)
        return float(totals[0] / totals[1])

    # -- the last moment anything can refuse the run is past: only now is an old start discarded
    if run is not None:
        if rt.fresh and main:
            ckpt.remove_all(run.checkpoint_dir)
        if main:
            run.supersede_metrics_after(start)
        if rt.fresh:
            distributed.barrier()

    # -- compile up front, so its cost is reported apart from the step time
    compile_s = None
    if rt.compile and start < steps:
        t0 = time.perf_counter()
        # One synced micro-step compiles forward and backward (and DDP's hooks); its gradient is
        # thrown away, and the dropout it draws cannot matter: each step reseeds it.
        x, y = data.batch(start, n_seq, rank=rank, world_size=world)
        with autocast():
            _, loss = runner(x[:micro].to(device), y[:micro].to(device))
        loss.backward()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        compile_s = time.perf_counter() - t0
        attempt["compile_s"] = round(compile_s, 3)

    # -- the loop
    progress = _Progress(rt.progress if main else "off", sys.stderr, steps)
    elapsed_before = resume.meta["elapsed_s"] if resume is not None else 0.0
    last = dict(resume.meta.get("last", {})) if resume is not None else {}
    tokens_per_step = n_seq * T
    attempt["start_step"] = start
    clip = cfg.train.grad_clip if cfg.train.grad_clip > 0 else math.inf
    trainable = [p for p in model.parameters() if p.requires_grad]
    # sinks and the profiler last, so that nothing between here and the loop's `finally` can
    # leave one open
    loggers = sinks.open_sinks(rt.log, run if main else None, resumed_from=start or None, fresh=rt.fresh,
                              info={"hash": config_hash, "short": short_hash(config_hash),
                                    "recipe": attempt.get("tokens"), "config": json.loads(canonical)}, out=out)
    profile_window = profiling.window(rt, steps)
    profiler = (profiling.StepProfiler(profile_window, run.path / "profile" if run is not None else None,
                                       device.type == "cuda", out) if profile_window and main else None)
    t_loop = time.perf_counter()
    attempt["startup_s"] = round(t_loop - t_start, 3)
    train_time = 0.0
    model.train()
    try:
        for step in range(start, steps):
            if profiler is not None:
                profiler.before(step)
            t0 = time.perf_counter()
            mult = schedule(step)
            for g in optimizer.param_groups:
                g["lr"] = g["base_lr"] * mult
            # Dropout draws from the global generator: seeding it per (step, rank) makes every step's
            # masks independent of what ran before, so a resumed run draws the same masks.
            _seed_dropout(_seed_for(cfg.train.seed, "dropout", step, rank), device)
            x, y = data.batch(step, n_seq, rank=rank, world_size=world)
            loss = forward_backward(x, y)
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, clip, foreach=True)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if world > 1:
                loss = distributed.all_reduce_mean(loss)
            if hasattr(grad_norm, "full_tensor"):  # FSDP: a DTensor, the same on every rank
                grad_norm = grad_norm.full_tensor()
            loss_f = loss.item()  # also waits for the device, so the step time below is honest
            dt = time.perf_counter() - t0
            train_time += dt
            done = step + 1
            if profiler is not None:
                profiler.after(step)
            record: dict[str, Any] = {
                "step": done,
                "loss": loss_f,
                # What the optimizer used, read back, not recomputed from the config: the first
                # group carries `optim.lr` (the matrices; Muon's own group).
                "lr": optimizer.param_groups[0]["lr"],
                "grad_norm": float(grad_norm),
                "tokens_per_s": tokens_per_step / dt,
                "elapsed_s": round(elapsed_before + time.perf_counter() - t_loop, 4),
                "time": round(time.time(), 3),  # wall clock, to line metrics up with other logs
            }
            if compile_s is not None and step == start:
                record["compile_s"] = round(compile_s, 3)
            final = done == steps
            if final or (cfg.eval.interval and done % cfg.eval.interval == 0):
                t_eval = time.perf_counter()
                full = final and cfg.eval.full_at_end
                record["val_loss"] = evaluate(full)
                if full:
                    record["val_full"] = True
                record["eval_s"] = round(time.perf_counter() - t_eval, 4)
                progress.note(f"step {done}/{steps}  val loss {record['val_loss']:.4f}" + (" (whole val split)" if full else ""))
            last = {"loss": loss_f, **({"val_loss": record["val_loss"], "val_full": full} if "val_loss" in record else {})}
            if run is not None and main:
                # With each val loss, the run's figures for `compare`: this attempt's throughput
                # (eval excluded) and the training time over all attempts.
                summary = ({"tokens_per_s": tokens_per_step * (done - start) / train_time,
                            "wall_s": record["elapsed_s"]} if "val_loss" in record else None)
                run.append_metrics(record, summary)
                for sink in loggers:
                    sink.log(record)
            if not math.isfinite(loss_f):
                raise FloatingPointError(
                    f"training diverged: loss={loss_f} at step {done}; lower optim.lr or set train.grad_clip"
                )
            progress.update(done, loss_f, tokens_per_step * (done - start) / train_time,
                            (steps - done) * train_time / (done - start), force=final)
            if run is not None and (final or (rt.checkpoint_every and done % rt.checkpoint_every == 0)):
                meta = {
                    "config_hash": config_hash,
                    "config": canonical,
                    "step": done,
                    # Batch k depends on (seed, k) only, so the next step is the whole data position.
                    "data": {"fingerprint": data.fingerprint, "next_batch": done,
                             "tokenizer": data.tokenizer},  # what `sample` decodes with
                    "elapsed_s": elapsed_before + time.perf_counter() - t_loop,
                    "last": last,
                }
                if sharded:
                    ckpt.save_sharded(run.checkpoint_dir, runner, optimizer, meta, keep=rt.keep_checkpoints)
                elif main:
                    ckpt.save(run.checkpoint_dir, {**meta, "model": model.state_dict(),
                                                   "optimizer": optimizer.state_dict()}, keep=rt.keep_checkpoints)
    finally:
        # Also on Ctrl-C or an error: end the live line so what is printed next starts clean.
        progress.close()
        if profiler is not None:
            profiler.close()
        for sink in loggers:
            sink.close()

    tokens_s = tokens_per_step * (steps - start) / train_time if train_time else 0.0
    val_loss, val_full = last.get("val_loss"), bool(last.get("val_full"))
    if start == steps and val_loss is None:
        val_loss, val_full = evaluate(cfg.eval.full_at_end), cfg.eval.full_at_end
    files: tuple[str, ...] = ()
    if run is not None:
        newest = ckpt.latest(run.checkpoint_dir)
        files = tuple(str(p) for p in (run.path / "metrics.jsonl", newest) if p is not None and p.exists())
    summary = Summary(
        hash=config_hash,
        steps=steps,
        train_loss=last.get("loss"),
        val_loss=val_loss,
        val_full=val_full,
        unigram_entropy=data.val.unigram_entropy(),
        elapsed_s=elapsed_before + (time.perf_counter() - t_loop),
        tokens_per_s=tokens_s,
        compile_s=compile_s,
        resumed_from=start or None,
        peak_memory_mb=_peak_memory_mb(device),
        params=params,
        files=files,
    )
    # train_s: this call's whole time (data, model, steps, evals, checkpoints), start-up included
    attempt.update(tokens_per_s=round(tokens_s, 1), peak_memory_mb=round(summary.peak_memory_mb, 1),
                   train_s=round(time.perf_counter() - t_start, 3))
    if main:
        for line in summary.lines():
            print(line, file=out, flush=True)
    return summary

