/**
 * LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"; rsLoRA: Kalajdzievski
 * 2023, "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA").
 *
 * Rule: W' = W + s·B·A, A [r, in], B [out, r], s = α/r (rsLoRA α/√r). On the token embedding
 * (PEFT's lora_embedding_A [r, vocab], lora_embedding_B [dim, r]): E' = E + s·(B·A)ᵀ.
 *
 * Initialisations, as PEFT's LoraLayer.reset_lora_parameters / orthogonal_init
 * (huggingface/peft src/peft/tuners/lora/layer.py):
 *   true         A ~ U(−1/√in, 1/√in) (kaiming_uniform with a = √5), B = 0
 *   "gaussian"   A ~ N(0, (1/r)²)  (PEFT's normal_(std=1/r)), B = 0
 *   "orthogonal" Q = qr(X), X ~ N(0,1)^{r×r}; A = (G₁·Q[0::2])ᵀ/10, B = (G₂ᵀ·Q[1::2])/10 with
 *                G₁ ~ N^{in×r/2}, G₂ ~ N^{r/2×out}: rows of Q are orthogonal, so B·A = 0
 *   false        nn.Linear's own init for both: A ~ U(±1/√in), B ~ U(±1/√r)
 *   embedding    A = 0, B ~ N(0, 1) (false: both N(0, 1))
 *
 * Deviations: random numbers come from jax-js's threefry, so values differ from PyTorch's for a
 * seed (the distributions are the same); QR is src/linalg's (diag(R) ≥ 0).
 */
import { numpy as np, random } from "@jax-js/jax";
import { qr } from "../linalg/qr.js";
import type { ModuleSpec } from "./match.js";

/** `n` PRNG keys from one (consumed). */
export function splitKey(key: np.Array, n: number): np.Array[] {
  const keys = random.split(key, n);
  const out = Array.from({ length: n }, (_, i) => keys.ref.slice(i));
  keys.dispose();
  return out;
}

/** Initial A and B of one module for the random initialisations. Consumes `key`. */
export function initLoraFactors(
  m: ModuleSpec,
  init: boolean | "gaussian" | "orthogonal",
  key: np.Array,
): { a: np.Array; b: np.Array } {
  const [out, inp] = m.shape;
  const r = m.r;
  const [k1, k2, k3] = splitKey(key, 3);
  if (m.kind === "embedding") {
    // shape is [vocab, dim]: A [r, vocab], B [dim, r]
    k3.dispose();
    let a: np.Array;
    if (init === false) a = random.normal(k1, [r, out]);
    else {
      k1.dispose();
      a = np.zeros([r, out], { dtype: np.float32 });
    }
    return { a, b: random.normal(k2, [inp, r]) };
  }
  if (init === "orthogonal") {
    const { q, r: rr } = qr(random.normal(k1, [r, r]));
    rr.dispose();
    const half = r / 2;
    // Rows 0, 2, 4, … and 1, 3, 5, … of Q as 0/1 selection matmuls (no host loops).
    const pick = (offset: number) =>
      np
        .equal(np.arange(half).reshape([half, 1]).mul(2).add(offset), np.arange(r).reshape([1, r]))
        .astype(np.float32);
    const qOdd = np.matmul(pick(0), q.ref);
    const qEven = np.matmul(pick(1), q);
    const a = np
      .matmul(random.normal(k2, [inp, half]), qOdd)
      .transpose()
      .mul(0.1);
    const b = np.matmul(random.normal(k3, [half, out]).transpose(), qEven).mul(0.1);
    return { a, b };
  }
  k3.dispose();
  if (init === true) {
    const bound = 1 / Math.sqrt(inp);
    k2.dispose();
    return {
      a: random.uniform(k1, [r, inp], { minval: -bound, maxval: bound }),
      b: np.zeros([out, r], { dtype: np.float32 }),
    };
  }
  if (init === "gaussian") {
    k2.dispose();
    return {
      a: random.normal(k1, [r, inp]).mul(1 / r),
      b: np.zeros([out, r], { dtype: np.float32 }),
    };
  }
  const ba = 1 / Math.sqrt(inp);
  const bb = 1 / Math.sqrt(r);
  return {
    a: random.uniform(k1, [r, inp], { minval: -ba, maxval: ba }),
    b: random.uniform(k2, [out, r], { minval: -bb, maxval: bb }),
  };
}

/**
 * The update s·B·A in the base weight's layout ([out, in], or [vocab, dim] for the embedding).
 * Consumes `a` and `b`.
 */
export function loraDelta(m: ModuleSpec, a: np.Array, b: np.Array): np.Array {
  if (m.kind === "embedding") return np.matmul(a.transpose(), b.transpose()).mul(m.scaling);
  return np.matmul(b, a).mul(m.scaling);
}
