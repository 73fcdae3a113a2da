#!/usr/bin/env bash
# Converts the zoo's CIFAR ResNet-20 checkpoints (../shared/data/zoo/*.th) into the engine's format
# under ${PLEAS_WORK:-/tmp/pleas_zoo} (skipping files already there), with their class names.
#   bash experiments/convert_zoo.sh        (from the project root; prints the folder)
set -euo pipefail
Z=${PLEAS_ZOO_SRC:-../shared/data/zoo}
W=${PLEAS_WORK:-/tmp/pleas_zoo}
mkdir -p "$W"
C10=airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck
conv() {  # conv NAME CLASSES
  [ -f "$W/$1.safetensors" ] || /usr/bin/python3 tools/convert_torch.py "$Z/$1.th" "$W/$1.safetensors" --classes "$2" >&2
}
for n in r20_akamaster r20_lrh2000 r20_dansun18_run1 r20_jackhuang32; do conv $n $C10; done
conv r20c5a_lrh2000 airplane,automobile,bird,cat,deer
conv r20c5b_lrh2000 dog,frog,horse,ship,truck
echo "$W"
