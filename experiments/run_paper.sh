#!/usr/bin/env bash
# The paper's tables and figures that run on the data of ../shared (issue #14), one config each:
#   bash experiments/run_paper.sh [NAME...] [-- pleas experiment flags]
# NAME: a config of experiments/configs/ (default: all the runnable ones below). Results go to
# experiments/results/<NAME>/ (results.json, table.md, PNGs, figure_points.txt; cache/ makes a
# rerun resume). The zoo configs need the zoo converted: done here first (experiments/convert_zoo.sh);
# the PACS configs need the PACS parents of models/pacs: trained here first when absent.
# The DomainNet and fine-grained configs take their data paths from the command line instead:
#   ./build/bin/pleas experiment experiments/configs/domainnet.json --set DOMAINNET=/data/domainnet --set MODELS=...
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PLEAS_BIN:-./build/bin/pleas}
names=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do names+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#names[@]} -gt 0 ] || names=(pacs_shared pacs_same_init pacs_objectives pacs_free c5_heads c5_probe zoo_objectives zoo_free)
for n in "${names[@]}"; do
  cfg=experiments/configs/$n.json
  [ -f "$cfg" ] || { echo "run_paper.sh: no config $cfg" >&2; exit 2; }
  vars=()
  if grep -q '${ZOO}' "$cfg"; then vars+=(--set "ZOO=$(bash experiments/convert_zoo.sh)"); fi
  # The PACS parents are trained here, not kept in git (seeded; ~25 min on 2 cores for all nine).
  if grep -q 'models/pacs/' "$cfg" && [ ! -f models/pacs/pacs_photo.safetensors ]; then
    /usr/bin/python3 tools/train_parents.py --all >&2
  fi
  echo "== $n" >&2
  "$P" experiment "$cfg" "${vars[@]}" "$@"
done
