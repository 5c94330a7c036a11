"""PyTorch side of bench/matmul.ts: milliseconds of float32 torch.mm on the same products and
sizes (A·B, A·Bᵀ, Aᵀ·B; the transposes are views, so the BLAS gets the transposed-operand flag
as jax-js's kernel gets the strided operand), with the same call counts, on --threads threads
(OpenMP and the BLAS's own pool pinned before torch loads; bench/torch_blas.py). The result
names the BLAS torch's sgemm binds to, so that the parent can refuse a reference BLAS.

    /usr/bin/python3 bench/torch_matmul.py --threads 1 [--quick]
"""

import argparse
import time

from torch_blas import blas_info, pin_threads
from torch_child import load_probe, report

SIZES = (256, 512, 1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    pin_threads(args.threads)
    import torch

    finish_load = load_probe()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    ops = {
        "A·B": lambda a, b: torch.mm(a, b),
        "A·Bᵀ": lambda a, b: torch.mm(a, b.t()),
        "Aᵀ·B": lambda a, b: torch.mm(a.t(), b),
    }
    times = {}
    for n in SIZES:
        a, b = torch.randn(n, n), torch.randn(n, n)
        # Same repetitions as bench/matmul.ts.
        reps = max(3, round((8 if args.quick else 24) * (256 / n) ** 1.5))
        for op, f in ops.items():
            for _ in range(2):
                f(a, b)
            ms = []
            for _ in range(reps):
                t0 = time.perf_counter()
                f(a, b)
                ms.append((time.perf_counter() - t0) * 1000)
            times[f"{op} {n}"] = ms
    report(
        {
            "engine": "pytorch",
            "threads": args.threads,
            "torch": torch.__version__,
            "blas": blas_info(),
            "load": finish_load(),
            "times": times,
        }
    )


if __name__ == "__main__":
    main()
