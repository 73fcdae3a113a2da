#!/usr/bin/env bash
# Issue #15 on the zoo's CIFAR ResNet-20s: alignments beyond one-to-one permutations.
#   bash experiments/alignments_zoo.sh [OUT_DIR] [PART...]   (default experiments/results/2026-12-04,
#                                                             parts: pair c5 many restarts rules summary)
# pair:     the method table (budgets 1.0, 1.2, 1.5) on r20_akamaster + r20_lrh2000 (same label space)
# c5:       the same (budgets 1.0 and 1.5) on the 5 + 5 pair r20c5a_lrh2000 + r20c5b_lrh2000
#           (one head per parent; joint and per-task accuracy)
# many:     merging 2, 3 and 4 independent ResNet-20s (Permute, CCA, ZipIt!, each with and without
#           PLeaS's least squares) and the N-model ensembles
# restarts: PLeaS at 1.0 with --restarts 6 on two pairs (the matching lottery; held-out score images:
#           training images 200-219 of each class):
#           every restart's label-free score and, for the record only, its test accuracy
# rules:    activation matching, pooled moments vs per-site correlations
# summary:  tables.md from the JSON (experiments/summarize_alignments.py)
# Needs the build (build/bin/pleas), Debian's python3-torch (checkpoint conversion) and ../shared.
# Merge data: the first 200 training images per class; test: all 10,000 test images; seed 0.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-experiments/results/2026-12-04}
shift || true
PARTS=${*:-pair c5 many restarts rules summary}
D=../shared/data/cifar10
W=${PLEAS_WORK:-/tmp/pleas_zoo}
P=${PLEAS_BIN:-./build/bin/pleas}
mkdir -p "$OUT" "$W"
bash experiments/convert_zoo.sh >/dev/null
R1=$W/r20_akamaster.safetensors R2=$W/r20_lrh2000.safetensors R3=$W/r20_dansun18_run1.safetensors
R4=$W/r20_jackhuang32.safetensors
C5A=$W/r20c5a_lrh2000.safetensors C5B=$W/r20c5b_lrh2000.safetensors
COMMON="--data $D/train --per-class 200 --eval-data $D/test"

# Rows: method:alignment:budget[:partial]. permute = align and average (+ BN reset), pleas = the
# same alignment followed by PLeaS's least squares (+ BN recompute).
rows="parent:a parent:b ensemble"
for m in weight zipit cca; do rows="$rows permute:$m:1.0 pleas:$m:1.0"; done
budget_rows() {  # budget_rows B...: every method that applies above 1, with and without least squares
  for b in "$@"; do for meth in permute pleas; do
    rows="$rows $meth:weight:$b $meth:zipit:$b $meth:zipit:$b:prefix $meth:cca:$b:prefix"
  done; done
}
base_rows=$rows
for part in $PARTS; do case $part in
pair)
  rows=$base_rows; budget_rows 1.2 1.5
  $P table --a "$R1" --b "$R2" $COMMON --rows $rows --json "$OUT/pair_table.json" | tee "$OUT/pair_table.txt" ;;
c5)
  rows=$base_rows; budget_rows 1.5
  $P table --a "$C5A" --b "$C5B" $COMMON --rows $rows --json "$OUT/c5_table.json" | tee "$OUT/c5_table.txt" ;;
many)
  models=("$R1" "$R2" "$R3" "$R4")
  for n in 2 3 4; do
    set -- "${models[@]:0:$n}"
    first=$1; shift
    $P eval --model "$first" --ensemble-with "$@" --data $D/test --json > "$OUT/many_${n}_ensemble.json"
    for m in weight cca zipit; do for meth in permute pleas; do
      $P merge --models "${models[@]:0:$n}" --method $meth --match $m $COMMON --quiet \
          --json "$OUT/many_${n}_${meth}_${m}.json"
    done; done
  done ;;
restarts)
  for pair in "r20_akamaster r20_lrh2000" "r20_dansun18_run1 r20_jackhuang32"; do
    set -- $pair
    $P merge --a "$W/$1.safetensors" --b "$W/$2.safetensors" --method pleas --match weight --restarts 6 $COMMON \
        --quiet --json "$OUT/restarts_${1}_${2}.json"
  done ;;
rules)
  for pair in "r20_akamaster r20_lrh2000" "r20_dansun18_run1 r20_jackhuang32"; do
    set -- $pair
    for rule in pooled per_site; do
      $P merge --a "$W/$1.safetensors" --b "$W/$2.safetensors" --method permute --match activation --act-rule $rule \
          $COMMON --quiet --json "$OUT/rule_${1}_${2}_permute_${rule}.json"
    done
  done
  for rule in pooled per_site; do
    $P merge --a "$R1" --b "$R2" --method pleas --match activation --act-rule $rule $COMMON --quiet \
        --json "$OUT/rule_r20_akamaster_r20_lrh2000_pleas_${rule}.json"
  done ;;
summary)
  /usr/bin/python3 experiments/summarize_alignments.py "$OUT" > "$OUT/tables.md" ;;
*) echo "unknown part $part" >&2; exit 2 ;;
esac; done
