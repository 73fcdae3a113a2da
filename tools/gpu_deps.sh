#!/usr/bin/env bash
# On a development machine: downloads the Debian packages the build needs into .deps/debs (git-
# ignored, ~19 MB), to be carried to the GPU machine, which reaches no package archive
# (device tool: carry [".deps"]). tools/gpu_check.sh unpacks and uses them there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps/debs
cd .deps/debs
apt-get download libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 libopenblas0-openmp \
  libopenblas-openmp-dev liblapacke liblapacke-dev libgfortran5 libquadmath0 libgtest-dev \
  libbenchmark-dev libbenchmark1debian libcli11-dev nlohmann-json3-dev libstb-dev libstb0
du -sh .
