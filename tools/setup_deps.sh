#!/usr/bin/env bash
# Installs the build dependencies from Debian/Ubuntu packages (the CUDA toolkit with cuDNN 9 is
# expected under /usr/local/cuda). Safe to run again.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs="cmake ninja-build g++ libhdf5-dev libopenblas-openmp-dev liblapacke-dev libstb-dev libgtest-dev
      libbenchmark-dev libcli11-dev nlohmann-json3-dev libmatio-dev python3-matplotlib
      dataset-fashion-mnist"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
