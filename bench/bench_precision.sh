#!/usr/bin/env bash
# Issue 5 CPU figures: precision and process-count variants of preset:small, 200 steps, same session.
cd "$(dirname "$0")/.."
unset PYTHONDONTWRITEBYTECODE
R=$(mktemp -d /tmp/b5.XXXX)
mkdir -p bench/out; O=bench/out/precision.txt
: > $O
COMMON="train.steps=200 schedule.warmup_steps=20 eval.interval=0 eval.full_at_end=false --no-progress --checkpoint-every 0"
for spec in "preset:small" "preset:small +bf16" "preset:small +fp8"; do
  for round in 1 2; do
    echo "### OMP_NUM_THREADS=2 nanigpt train $spec $COMMON  (round $round)" >> $O
    OMP_NUM_THREADS=2 .venv/bin/nanigpt train $spec $COMMON --runs-dir $R/r$round 2>&1 | grep -E "steps in|train loss" >> $O
  done
done
for round in 1 2; do
  echo "### OMP_NUM_THREADS=1 torchrun --nproc-per-node 2 -m nanigpt train preset:small $COMMON (round $round)" >> $O
  OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc-per-node 2 -m nanigpt train preset:small $COMMON --runs-dir $R/d$round 2>&1 | grep -E "steps in|train loss" >> $O
  echo "### OMP_NUM_THREADS=1 nanigpt train preset:small $COMMON (round $round)" >> $O
  OMP_NUM_THREADS=1 .venv/bin/nanigpt train preset:small $COMMON --runs-dir $R/s$round 2>&1 | grep -E "steps in|train loss" >> $O
done
echo "### time OMP_NUM_THREADS=2 nanigpt train   (the README main job, preset:small, whole)" >> $O
( time OMP_NUM_THREADS=2 .venv/bin/nanigpt train --runs-dir $R/main --no-progress ) >> $O 2>&1
date >> $O
