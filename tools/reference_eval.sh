#!/usr/bin/env bash
# Regenerates tools/reference_accuracy.json: PyTorch (PIL decode) top-1 of the seven zoo ResNets
# and the two tintn ViTs on ../shared/data/cifar10/test (all 10,000 images; 5-class models on their
# own 5,000 images with their label maps; the ViTs with the tutorial's config for the head count,
# in pt_models.TintnViT, normalised (x - 0.5) / 0.5). Sequential, one thread.
# Usage: bash tools/reference_eval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
Z=../shared/data/zoo
D=../shared/data/cifar10/test
OUT=tools/reference_accuracy.json
PY=${PYTHON:-/usr/bin/python3}
C10=airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck
[ -d "$Z" ] || { echo "reference_eval.sh: $Z not found" >&2; exit 2; }
rm -f "$OUT"
for m in r20_akamaster r32_akamaster r44_akamaster r56_akamaster r20_lrh2000; do
  OMP_NUM_THREADS=1 "$PY" tools/eval_torch.py --model "$Z/$m.th" --data "$D" --classes "$C10" --json-out "$OUT" --key "$m"
done
OMP_NUM_THREADS=1 "$PY" tools/eval_torch.py --model "$Z/r20c5a_lrh2000.th" --data "$D" \
  --classes airplane,automobile,bird,cat,deer --json-out "$OUT" --key r20c5a_lrh2000
OMP_NUM_THREADS=1 "$PY" tools/eval_torch.py --model "$Z/r20c5b_lrh2000.th" --data "$D" \
  --classes dog,frog,horse,ship,truck --json-out "$OUT" --key r20c5b_lrh2000
for m in vit_tintn_zlwu00 vit_tintn_davidwarchy; do
  OMP_NUM_THREADS=1 "$PY" tools/eval_torch.py --model "$Z/$m.pt" --config "$Z/vit_tintn_config.json" --data "$D" \
    --classes "$C10" --json-out "$OUT" --key "$m"
done
