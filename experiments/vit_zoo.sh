#!/usr/bin/env bash
# The ViT merging results of issue #13 on the zoo pair (vit_tintn_zlwu00 + vit_tintn_davidwarchy):
# the method table (uniform k), leave-one-out tables and the budget solver's merges, as JSON.
#   bash experiments/vit_zoo.sh [OUT_DIR]     (default experiments/results/2026-12-03)
# Needs the build (build/bin/pleas), Debian's python3-torch (the conversion) and ../shared.
# Merge data: the first 200 training images per class; test: all 10,000 test images; seed 0.
# Leave-one-out tables: 50 merge images per class, proxy = training images 200-299 of each class.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-experiments/results/2026-12-03}
Z=../shared/data/zoo
D=../shared/data/cifar10
W=${PLEAS_WORK:-/tmp/pleas_vit}
mkdir -p "$OUT" "$W"
for n in zlwu00 davidwarchy; do
  [ -f "$W/$n.safetensors" ] || /usr/bin/python3 tools/convert_torch.py "$Z/vit_tintn_$n.pt" "$W/$n.safetensors" \
      --config "$Z/vit_tintn_config.json"
done
A=$W/zlwu00.safetensors
B=$W/davidwarchy.safetensors
P=./build/bin/pleas
rows="parent:a parent:b ensemble average permute:weight permute:activation"
for m in weight activation; do for b in 1.0 1.2 1.5 1.8 2.0; do rows="$rows pleas:$m:$b"; done; done
$P table --a "$A" --b "$B" --data $D/train --per-class 200 --eval-data $D/test --rows $rows \
    --json "$OUT/vit_table.json" | tee "$OUT/vit_table.txt"
for m in activation weight; do
  $P loo --a "$A" --b "$B" --match $m --data $D/train --per-class 50 --proxy-data $D/train \
      --proxy-skip-per-class 200 --proxy-per-class 100 --out "$OUT/vit_loo_$m.json"
  for b in 1.2 1.5 1.8; do
    $P budget --loo "$OUT/vit_loo_$m.json" --budget $b --json > "$OUT/vit_budget_${m}_$b.json"
    $P merge --a "$A" --b "$B" --method pleas --match $m --budget $b --loo "$OUT/vit_loo_$m.json" \
        --data $D/train --per-class 200 --eval-data $D/test --json "$OUT/vit_solver_${m}_$b.json" --quiet
  done
done
# The ensemble computed independently of the merge code (mean of the two models' logits): its
# correct count must equal the table's ensemble row (a k = 0 merged model).
$P eval --model "$A" --ensemble-with "$B" --data $D/test --json > "$OUT/vit_ensemble_independent.json"
# PLeaS at 1.0, per-stage times (2 cores; run on a quiet machine).
for m in weight activation; do
  $P merge --a "$A" --b "$B" --method pleas --match $m --budget 1.0 --data $D/train --per-class 200 \
      --eval-data $D/test --json "$OUT/vit_pleas_${m}_1.0_timed.json" --quiet
done
# The least-squares input choice after LayerNorms (pleas/least_squares.h): the parents' norm outputs.
for m in weight activation; do
  $P merge --a "$A" --b "$B" --method pleas --match $m --budget 1.0 --lsq-norm-inputs parents --data $D/train \
      --per-class 200 --eval-data $D/test --json "$OUT/vit_pleas_${m}_1.0_parents_norm.json" --quiet
done
