"""PyTorch side of bench/train-throughput.ts: training steps per second of the same LLaMA-style
decoder, on the same machine, for a side-by-side tokens/s ratio.

The model is tools/fixtures/llama_reference.py's functional forward (our own independent PyTorch
implementation of the architecture src/nn/llama.ts implements), run here in float32 with
Hugging Face's init (normal(0, 0.02) weights, unit norms). One step is what the Rankwise trainer
does: forward, cross-entropy, backward, clip the global gradient norm to 1, AdamW (lr 3e-3,
weight decay 0.01). Tokens are uniform random ids (speed does not depend on the text).

    /usr/bin/python3 bench/torch_llama.py --threads 1 --vocab 65 [--batch 16 --seq 64 --steps 20]

Prints one JSON object (or writes it to $BENCH_CHILD_OUT when the parent benchmark runs it).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "fixtures"))
from llama_reference import llama_forward, llama_shapes  # noqa: E402

# Rankwise's "default" preset (src/nn/llama-config.ts).
PRESETS = {
    "small": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=4, num_attention_heads=4),
    "default": dict(hidden_size=128, intermediate_size=352, num_hidden_layers=4, num_attention_heads=4),
}


def blas_library():
    """The BLAS shared library this process has loaded (resolved through Debian's alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line or "mkl" in line}
        return sorted(os.path.realpath(p) for p in paths if p.startswith("/"))
    except OSError:
        return []


def machine_busy_seconds():
    """Busy CPU seconds of the whole machine (/proc/stat; USER_HZ is 100 on Linux), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / 100
    except OSError:
        return None


def own_cpu_seconds():
    t = os.times()
    return t.user + t.system


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--model", default="default", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    load_start = os.getloadavg()[0]
    busy0, own0, wall0 = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    cfg = dict(PRESETS[args.model])
    cfg.update(
        vocab_size=args.vocab,
        num_key_value_heads=cfg["num_attention_heads"],
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=True,
    )
    params = {}
    for name, shape in llama_shapes(cfg).items():
        w = torch.ones(shape) if len(shape) == 1 else torch.randn(shape) * 0.02
        params[name] = w.requires_grad_(True)
    n_params = sum(p.numel() for p in params.values())
    opt = torch.optim.AdamW(params.values(), lr=3e-3, weight_decay=0.01)

    def step():
        tokens = torch.randint(0, args.vocab, (args.batch, args.seq))
        targets = torch.randint(0, args.vocab, (args.batch, args.seq))
        logits = llama_forward(params, tokens, cfg)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, args.vocab), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    # This torch's float32 matmul speed at 512 (Debian's build calls the system BLAS), for context.
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    mm = []
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b)
        mm.append(time.perf_counter() - t0)
    blas_gflops = 2 * 512**3 / statistics.median(mm) / 1e9

    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    result = {
        "engine": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "params": n_params,
        "stepMs": times,
        "medianStepMs": statistics.median(times),
        "tokensPerSec": args.batch * args.seq / (statistics.median(times) / 1000),
        # ru_maxrss is in KiB on Linux.
        "matmulGflops512": blas_gflops,
        "blas": blas_library(),
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    busy1 = machine_busy_seconds()
    if busy0 is not None and busy1 is not None:
        # CPU cores used by other processes while this one ran (as bench/common.ts loadProbe).
        others = (busy1 - busy0 - (own_cpu_seconds() - own0)) / (time.perf_counter() - wall0)
        result["load"]["others"] = round(max(0.0, others), 2)
    text = json.dumps(result)
    out = os.environ.get("BENCH_CHILD_OUT")
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
