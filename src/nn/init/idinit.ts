/**
 * IDInit — fully identical initialisation (Pan et al. 2025, "IDInit: A Universal and Stable
 * Initialization Method for Neural Network Training", ICLR): every weight matrix starts as a
 * padded identity-like matrix, so that each layer passes its input on unchanged (an identity
 * transition in the main and the residual stems), and the rank of a non-square matrix is not
 * cut to zero rows or columns as a zero-padded identity would do:
 *   W_ij = τ·[i mod n = j mod n],  n = min(rows, cols)
 * (rows > cols: the identity repeated down the rows; cols > rows: across the columns).
 * Residual branches' last projections may start at 0 (the paper's IDInit with a zero sub-stem
 * end, named by `zero`), and a small Gaussian `noise` breaks the symmetry of repeated rows (the
 * paper's remedy for dead neurons). Leaves that are not matrices are left as they are.
 * Reference: the paper (no authors' code was available to read); tests check the definition and
 * the identity transition. Deviations: higher-order (convolution) kernels are not handled.
 */
import { numpy as np, random } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";

/** The rows × cols padded identity-like matrix, times gain (float32). */
export function paddedIdentity(rows: number, cols: number, gain = 1): np.Array {
  const n = Math.min(rows, cols);
  const i = np.arange(rows, undefined, undefined, { dtype: np.int32 }).reshape([rows, 1]);
  const j = np.arange(cols, undefined, undefined, { dtype: np.int32 }).reshape([1, cols]);
  return np.equal(np.remainder(i, n), np.remainder(j, n)).astype(np.float32).mul(gain);
}

/** Options of {@link idinit}. */
export interface IdinitOptions {
  /** τ (default 1). */
  gain?: number;
  /** Standard deviation of the Gaussian noise added to every matrix (default 0). */
  noise?: number;
  seed?: number;
  /** Matrices that start at zero (plus noise): the residual branches' last projections. */
  zero?: (path: string) => boolean;
  /** Matrices to re-initialise (default: every 2-D leaf). */
  select?: (path: string) => boolean;
}

/** Every 2-D leaf of `params` re-initialised by IDInit (see the header). Consumes params. */
export function idinit(params: Params, options: IdinitOptions = {}): Params {
  const gain = options.gain ?? 1;
  const noise = options.noise ?? 0;
  if (!Number.isFinite(gain)) throw new RangeError(`gain must be a finite number, got ${gain}`);
  if (!(noise >= 0)) throw new RangeError(`noise must be ≥ 0, got ${noise}`);
  let leaf = 0;
  return tree.mapWithPath((p: np.Array, path) => {
    const index = leaf++;
    if (p.ndim !== 2 || options.select?.(path) === false) return p;
    const [rows, cols] = p.shape;
    const dtype = p.dtype;
    p.dispose();
    let w = options.zero?.(path) ? np.zeros([rows, cols]) : paddedIdentity(rows, cols, gain);
    if (noise > 0) {
      const key = random.key(((options.seed ?? 0) + Math.imul(index + 1, 0x9e3779b1)) >>> 0);
      w = w.add(random.normal(key, [rows, cols]).mul(noise));
    }
    return dtype === np.float32 ? w : w.astype(dtype);
  }, params);
}

const EMBEDDING_OR_HEAD = /(^|\.)(embed\w*|wte|wpe|tok_embeddings|lm_head)(\.|$)/;
const RESIDUAL_END = /(^|\.)(o_proj|down_proj)(\.|$)/;

/**
 * IDInit for a decoder with Hugging Face names (nn/llama.ts): the attention and MLP projections
 * become padded identities, the residual branches' ends (o_proj, down_proj) zero; embeddings,
 * the output head and the norms keep their values. Consumes params.
 */
export function idinitDecoder<P extends Params>(params: P, options: IdinitOptions = {}): P {
  return idinit(params, {
    select: (path) => !EMBEDDING_OR_HEAD.test(path),
    zero: (path) => RESIDUAL_END.test(path),
    ...options,
  }) as P;
}
