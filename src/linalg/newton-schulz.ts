/**
 * Newton–Schulz iterations: matrix functions from matmuls alone (no decomposition), so they stay
 * on the device and cost a handful of matmuls.
 *
 * orthogonalize — Muon's quintic iteration (Keller Jordan; KellerJordan/Muon
 * `zeropower_via_newtonschulz5`), an approximation of U Vᵀ for G = U S Vᵀ:
 *   X ← G / (‖G‖_F + 1e-7)   (transposed first when rows > cols, so that X Xᵀ is the small Gram)
 *   repeat `steps` times:  A = X Xᵀ,  B = b·A + c·A²,  X ← a·X + B X     (a, b, c) = (3.4445, −4.7750, 2.0315)
 * The coefficients maximise the slope at zero; the singular values end near [0.7, 1.2], not at 1,
 * which the authors found does not hurt. Deviation: the authors run it in bfloat16 on GPUs; we
 * compute in the input's dtype (float32 in practice).
 *
 * inverseSqrtPolarExpress — ASGO's P^(−1/2) for a symmetric positive semi-definite P
 * (infinity-stars/ASGO, optimizers/utils/matrix_decom.py `_matrix_inverse_root_PolarExpress`):
 *   ν = 1.01·‖P + εI‖_F,  Y ← P/ν,  Z ← I
 *   for each (a, b, c) of the schedule:  ZY = Z Y,  B = b·ZY + c·(ZY)²,  Y ← aY + Y B,  Z ← aZ + B Z
 *   P^(−1/2) ≈ Z / √ν
 * with the PolarExpress coefficients (Amsel et al. 2025, "The Polar Express"), the first seven
 * divided by (1.01, 1.01³, 1.01⁵) for safety and the last repeated, as the authors do.
 *
 * The *Jit variants are the same functions compiled with jax-js's jit, once per shape: the same
 * numbers, with far fewer kernel launches (measured on wasm: PolarExpress 28 → 6 ms at 128×128,
 * NS5 28 → 16 ms at 128×512).
 */
import { jit, numpy as np } from "@jax-js/jax";

/** Keller Jordan's quintic coefficients. */
export const NS5_COEFFICIENTS = [3.4445, -4.775, 2.0315] as const;

/** ‖x‖_F as a scalar array. Consumes x. */
export const frobeniusNorm = (x: np.Array): np.Array => np.sqrt(x.ref.mul(x).sum());

/** Muon's Newton–Schulz orthogonalisation of a 2-D array. Consumes g. */
export function orthogonalize(g: np.Array, steps = 5, eps = 1e-7): np.Array {
  if (g.ndim !== 2) throw new Error(`orthogonalize: expected a matrix, got shape [${g.shape}]`);
  const [a, b, c] = NS5_COEFFICIENTS;
  const tall = g.shape[0] > g.shape[1];
  let x = tall ? g.transpose() : g;
  x = x.ref.div(frobeniusNorm(x).add(eps));
  for (let i = 0; i < steps; i++) {
    const gram = np.matmul(x.ref, x.ref.transpose());
    const poly = gram.ref.mul(b).add(np.matmul(gram.ref, gram).mul(c));
    x = x.ref.mul(a).add(np.matmul(poly, x));
  }
  return tall ? x.transpose() : x;
}

const compiledNs = new Map<string, (g: np.Array) => np.Array>();

/** {@link orthogonalize} compiled with jit (traced once per shape): the same numbers, faster. Consumes g. */
export function orthogonalizeJit(g: np.Array, steps = 5, eps = 1e-7): np.Array {
  const key = `${steps}:${eps}`;
  let f = compiledNs.get(key);
  if (f === undefined) {
    f = jit((x: np.Array) => orthogonalize(x, steps, eps)) as (g: np.Array) => np.Array;
    compiledNs.set(key, f);
  }
  return f(g);
}

const POLAR_EXPRESS: readonly (readonly [number, number, number])[] = [
  [8.28721201814563, -23.595886519098837, 17.300387312530933],
  [4.107059111542203, -2.9478499167379106, 0.5448431082926601],
  [3.9486908534822946, -2.908902115962949, 0.5518191394370137],
  [3.3184196573706015, -2.488488024314874, 0.51004894012372],
  [2.300652019954817, -1.6689039845747493, 0.4188073119525673],
  [1.891301407787398, -1.2679958271945868, 0.37680408948524835],
  [1.8750014808534479, -1.2500016453999487, 0.3750001645474248],
  [1.875, -1.25, 0.375],
];

/** The coefficients of `steps` PolarExpress iterations (safety factor on all but the last). */
function polarExpressSchedule(steps: number): (readonly [number, number, number])[] {
  const last = POLAR_EXPRESS.length - 1;
  const safe = POLAR_EXPRESS.map(([a, b, c], i) =>
    i === last ? ([a, b, c] as const) : ([a / 1.01, b / 1.01 ** 3, c / 1.01 ** 5] as const),
  );
  return Array.from({ length: steps }, (_, i) => safe[Math.min(i, last)]);
}

/** The iteration with the identity passed in (so that a jit trace holds no constant). */
function polarExpress(p: np.Array, eye: np.Array, eps: number, steps: number): np.Array {
  const nu = frobeniusNorm(p.ref.add(eye.ref.mul(eps))).mul(1.01);
  let y = p.div(nu.ref);
  let z = eye;
  for (const [a, b, c] of polarExpressSchedule(steps)) {
    const zy = np.matmul(z.ref, y.ref);
    const poly = zy.ref.mul(b).add(np.matmul(zy.ref, zy).mul(c));
    y = y.ref.mul(a).add(np.matmul(y, poly.ref));
    z = z.ref.mul(a).add(np.matmul(poly, z));
  }
  y.dispose();
  return z.div(np.sqrt(nu));
}

/** ASGO's P^(−1/2) of a symmetric PSD matrix by the coupled PolarExpress iteration. Consumes p. */
export const inverseSqrtPolarExpress = (p: np.Array, eps: number, steps: number): np.Array =>
  polarExpress(p, np.eye(p.shape[0], undefined, { dtype: p.dtype }), eps, steps);

const compiledPolar = new Map<string, (p: np.Array, eye: np.Array) => np.Array>();

/**
 * {@link inverseSqrtPolarExpress} compiled with jit (traced once per shape): the same numbers,
 * and 2–100× faster, as the eager version launches dozens of small kernels. Consumes p.
 */
export function inverseSqrtPolarExpressJit(p: np.Array, eps: number, steps: number): np.Array {
  const key = `${steps}:${eps}`;
  let f = compiledPolar.get(key);
  if (f === undefined) {
    f = jit((x: np.Array, eye: np.Array) => polarExpress(x, eye, eps, steps)) as (
      p: np.Array,
      eye: np.Array,
    ) => np.Array;
    compiledPolar.set(key, f);
  }
  return f(p, np.eye(p.shape[0], undefined, { dtype: p.dtype }));
}
