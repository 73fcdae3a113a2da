#!/usr/bin/env bash
# On the GPU machine (device tool, run from the repository root with carry [".deps"] prepared by
# tools/gpu_deps.sh): unpack the carried packages into .deps/root, build with CUDA, run the `cuda`
# and `cpu` tests and the GPU benchmarks, and write everything under $OUT (or ./gpu-out).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
R=$PWD/.deps/root
if [ -d .deps/debs ]; then
  mkdir -p "$R"
  for f in .deps/debs/*.deb; do dpkg -x "$f" "$R"; done
  rm -rf "$R/usr/bin"  # Debian's h5cc wrappers point at /usr
fi
A=x86_64-linux-gnu
export LD_LIBRARY_PATH="$R/usr/lib/$A:$R/usr/lib/$A/openblas-openmp:$R/usr/lib/$A/hdf5/serial:${LD_LIBRARY_PATH:-}"
{
  nvidia-smi || true
  nvcc --version | tail -2
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLEAS_CUDA=ON -DPLEAS_DEPS_ROOT="$R" \
    -DCMAKE_PREFIX_PATH="$R/usr;$R/usr/lib/$A/cmake" -DHDF5_ROOT="$R/usr" \
    -DHDF5_INCLUDE_DIRS="$R/usr/include/hdf5/serial" 2>&1 | tail -15
  time cmake --build build-gpu -j "$(nproc)" 2>&1 | grep -E "error|warning: |FAILED" | head -50
} > "$OUT/build.txt" 2>&1
ctest --test-dir build-gpu -L cuda --output-on-failure > "$OUT/cuda_tests.txt" 2>&1
ctest --test-dir build-gpu -L cpu -j "$(nproc)" --output-on-failure > "$OUT/cpu_tests.txt" 2>&1
for b in conv2d matmul gram solve models batch_norm reduce; do
  ./build-gpu/bench/bench_$b --benchmark_filter='/1/|gpu:1' --benchmark_min_time=0.2 \
    --benchmark_color=false >> "$OUT/gpu_bench.txt" 2>&1
done
# Whole merges on the device (ResNet-20 zoo pair or random pair, ResNet-18, ResNet-50 at 2,000
# images): per-stage times and the Gram rate (issue #18: ResNet-50 merge <= 10 s).
./build-gpu/bench/bench_merge --benchmark_filter='/1/0/iterations' --benchmark_color=false \
  > "$OUT/gpu_merge_bench.txt" 2>&1
tail -3 "$OUT/cuda_tests.txt" "$OUT/cpu_tests.txt"
