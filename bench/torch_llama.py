"""PyTorch side of bench/train-throughput.ts: training steps per second of the same LLaMA-style
decoder, on the same machine, for a side-by-side tokens/s ratio.

The model is tools/fixtures/llama_reference.py's functional forward (our own independent PyTorch
implementation of the architecture src/nn/llama.ts implements), run here in float32 with
Hugging Face's init (normal(0, 0.02) weights, unit norms). One step is what the Rankwise trainer
does: forward, cross-entropy, backward, clip the global gradient norm to 1, AdamW (lr 3e-3,
weight decay 0.01). Tokens are uniform random ids (speed does not depend on the text).
Every thread pool (OpenMP and the BLAS's own) is pinned to --threads before torch loads, and the
result names the BLAS that torch's sgemm binds to (bench/torch_blas.py): the parent refuses to
report a ratio against a reference BLAS.

    /usr/bin/python3 bench/torch_llama.py --threads 1 --vocab 65 [--batch 16 --seq 64 --steps 20]

Prints one JSON object (or writes it to $BENCH_CHILD_OUT when the parent benchmark runs it;
bench/torch_child.py).
"""

import argparse
import os
import resource
import statistics
import sys
import time

from torch_blas import blas_info, pin_threads
from torch_child import load_probe, report

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "fixtures"))

# Rankwise's presets (src/nn/llama-config.ts); tiny and medium use grouped-query attention.
PRESETS = {
    "tiny": dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "small": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=4, num_attention_heads=4),
    "default": dict(hidden_size=128, intermediate_size=352, num_hidden_layers=4, num_attention_heads=4),
    "medium": dict(
        hidden_size=256, intermediate_size=688, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4
    ),
}


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
    pin_threads(args.threads)  # before torch loads its BLAS
    import torch
    from llama_reference import llama_forward, llama_shapes

    finish_load = load_probe()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    cfg = dict(PRESETS[args.model])
    cfg.update(
        vocab_size=args.vocab,
        num_key_value_heads=cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
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
    torch.mm(a, b)
    mm = []
    for _ in range(10):
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
        "matmulGflops512": blas_gflops,
        "blas": blas_info(),
        # ru_maxrss is in KiB on Linux.
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": finish_load(),
    }
    report(result)


if __name__ == "__main__":
    main()
