#!/usr/bin/env python3
"""Forward throughput (images/s) of the engine, ONNX Runtime and PyTorch, side by side, on the same
machine, threads and batch sizes (issue #18's comparison).

Models (random weights: throughput does not depend on them): the CIFAR ResNet-20 at 32 px (batch
128) and torchvision's ResNet-18 / ResNet-50 at 224 px (batch 16 / 8): the architectures and batch
sizes of bench/models.cpp, whose BM_ResNet20/18/50 give the engine's figure (run here as a
subprocess with --benchmark_format=json). ONNX Runtime runs the PyTorch model exported to ONNX
(opset 17) with all graph optimisations; PyTorch runs it under inference_mode.

    python3 -m venv --system-site-packages /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnxruntime
    /tmp/ortvenv/bin/python tools/bench_vs_onnxruntime.py [--build build] [--threads 2] [--json out.json]

Needs: onnxruntime and torch (not needed by CI). Prints a table and writes JSON.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODELS = [  # name, engine benchmark, batch, image size
    ("resnet20", "BM_ResNet20/128/0", 128, 32),
    ("resnet18", "BM_ResNet18/16/0", 16, 224),
    ("resnet50", "BM_ResNet50/8/0", 8, 224),
]


def torch_model(name):
    import torch
    import pt_models

    torch.manual_seed(0)
    if name == "resnet20":
        class Traceable(pt_models.CifarResNet):
            # The same network; the global average pool written without a size read from the
            # tensor, which ONNX tracing cannot take as a kernel size.
            def forward(self, x):
                out = torch.nn.functional.relu(self.bn1(self.conv1(x)))
                out = self.layer3(self.layer2(self.layer1(out)))
                return self.linear(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(out, 1), 1))

        m = Traceable(depth=20, width=16, num_classes=10)
    else:
        block, layers = pt_models.RESNET_LAYERS[name]
        m = pt_models.ResNet(block=block, layers=layers)
    return m.eval()


def timed(fn, min_time):
    """Images per call are constant: returns seconds per call (best of repeated timing windows)."""
    fn()  # warm-up
    fn()
    best = float("inf")
    start = time.perf_counter()
    while time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def engine_rate(build, bench, threads, min_time):
    exe = os.path.join(build, "bench", "bench_models")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([exe, f"--benchmark_filter=^{bench}/", "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}"], env=env, check=True, capture_output=True, text=True)
    runs = json.loads(out.stdout)["benchmarks"]
    return runs[0]["images/s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"), help="the engine's build folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds of timing per model and runtime")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--models", default="resnet20,resnet18,resnet50")
    args = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch

    torch.set_num_threads(args.threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    rows = []
    for name, bench, batch, size in MODELS:
        if name not in args.models.split(","):
            continue
        m = torch_model(name)
        x = torch.randn(batch, 3, size, size)
        with torch.inference_mode():
            t_pt = timed(lambda: m(x), args.min_time)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, name + ".onnx")
            torch.onnx.export(m, x, path, opset_version=17, input_names=["x"], output_names=["y"])
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            xn = x.numpy()
            t_ort = timed(lambda: sess.run(None, {"x": xn}), args.min_time)
        eng = engine_rate(args.build, bench, args.threads, args.min_time)
        row = {"model": name, "batch": batch, "image_size": size, "engine": eng, "onnxruntime": batch / t_ort,
               "pytorch": batch / t_pt}
        row["engine_vs_onnxruntime"] = row["engine"] / row["onnxruntime"]
        row["engine_vs_pytorch"] = row["engine"] / row["pytorch"]
        rows.append(row)
        print(f"  {name}: engine {eng:.1f}, onnxruntime {row['onnxruntime']:.1f}, pytorch {row['pytorch']:.1f} images/s",
              file=sys.stderr, flush=True)
    result = {"threads": args.threads, "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "onnxruntime_version": ort.__version__, "torch_version": torch.__version__,
              "numpy_version": np.__version__, "results": rows}
    print(f"| model | batch | px | engine img/s | ONNX Runtime {ort.__version__} | PyTorch {torch.__version__} "
          f"| engine / ORT | engine / PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['image_size']} | {r['engine']:.1f} | {r['onnxruntime']:.1f} | "
              f"{r['pytorch']:.1f} | {r['engine_vs_onnxruntime']:.2f}x | {r['engine_vs_pytorch']:.2f}x |")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
