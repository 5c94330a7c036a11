/**
 * Calibration statistics for the merge methods that weigh parameters by curvature (fisher,
 * uncertainty_gm, mats), measured before merging, one model at a time, and kept on disk: each
 * model's statistics are written to a safetensors file in a temporary folder and read back
 * lazily, tensor by tensor, during the merge, so the merge still never holds more than one model
 * (the statistics pass holds one model, its gradients and its running sums; never all models).
 *
 * - "fisher": the diagonal empirical Fisher F = (1/S) Σ_s (∂L_s/∂θ)², L_s the mean next-token
 *   loss of calibration sequence s (tokens 1..T−1 from 0..T−2) at the model's own weights, one
 *   jit'ed loss-and-gradient per sequence (as prune's GBLM gradients). Matena & Raffel's code
 *   takes the exact expectation over a classifier's labels and the uncertainty-gm code samples
 *   labels from the model; over a vocabulary that is too costly, so the observed next token is
 *   used (their "empirical"/observed Fisher; deviation).
 * - "gram": each decoder linear layer's input Gram matrix XᵀX / tokens ([in, in], stored under
 *   the weight's name), as MaTS's save_gram_matrix.py (read, not copied) normalises by the token
 *   count, measured block by block with weights/calibration.ts (the model unchanged).
 *
 * Calibration sequences: `samples` windows of `seq_len` tokens of the model's calibration text
 * (its own `calibration`, else the top level's), drawn with `seed` (weights/calibration.ts),
 * tokenised with the merge's tokenizer (all models share one vocabulary: shapes are checked).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blockUntilReady, jit, numpy as np } from "@jax-js/jax";
import { loadCorpus } from "../../data/corpus.js";
import type { Tokenizer } from "../../data/tokenizer.js";
import {
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  tokenizerFromFileJson,
} from "../../data/tokenizer-file.js";
import { UsageError } from "../../engine/errors.js";
import * as tree from "../../engine/tree.js";
import { saveSafetensors } from "../../io/safetensors.js";
import { type LazySafetensors, openSafetensorsLazy } from "../../io/safetensors-lazy.js";
import { type LlamaParams, makeLossAndGrad } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { CALIBRATION_DEFAULTS, calibrateBlocks, calibrationTokens } from "../calibration.js";
import type { CalibrationConfig } from "./config.js";
import type { StatisticsKind } from "./method.js";
import type { ModelSource } from "./sources.js";

/** The statistics of several models, on disk until `close`. */
export interface MergeStatistics {
  /** Model ref → its statistics file (a tensor is absent where none was measured). */
  files: Map<string, LazySafetensors>;
  close(): void;
}

/** The tokenizer of a source's tokenizer files; one line when it has none. */
export function sourceTokenizer(source: ModelSource): Tokenizer {
  const files = source.tokenizerFiles();
  const json = files?.[TOKENIZER_FILE];
  if (json === undefined) {
    throw new UsageError(
      `calibration needs a tokenizer: ${source.ref} has no ${TOKENIZER_FILE} (set tokenizer_source to a model that has one)`,
    );
  }
  const config = files?.[TOKENIZER_CONFIG_FILE];
  return tokenizerFromFileJson(JSON.parse(json), config === undefined ? {} : JSON.parse(config));
}

/** Calibration ids for one model: samples × seqLen, row-major. */
export function calibrationIds(
  calib: CalibrationConfig,
  tokenizer: Tokenizer,
  config: LlamaConfig,
  who: string,
): { tokens: Int32Array; samples: number; seqLen: number } {
  let text: string;
  try {
    text = loadCorpus(calib.data).text;
  } catch (error) {
    throw new UsageError(`${who}.data: ${(error as Error).message.replace(/^corpus: /, "")}`);
  }
  const maxPos = config.max_position_embeddings;
  const seqLen = calib.seqLen ?? Math.min(CALIBRATION_DEFAULTS.seqLen, maxPos);
  if (seqLen > maxPos) {
    throw new UsageError(
      `${who}.seq_len ${seqLen} is longer than the model's context (max_position_embeddings ${maxPos})`,
    );
  }
  let ids: Int32Array;
  try {
    ids = tokenizer.encode(text);
  } catch (error) {
    throw new UsageError(
      `${who}: ${calib.data} does not fit the tokenizer: ${(error as Error).message}`,
    );
  }
  try {
    const tokens = calibrationTokens(ids, { samples: calib.samples, seqLen, seed: calib.seed });
    return { tokens, samples: calib.samples, seqLen };
  } catch (error) {
    throw new UsageError(`${who}: ${(error as Error).message}`);
  }
}

/**
 * (1/S) Σ_s g_s² over the calibration sequences, for every parameter. Borrows `params`. Waits for
 * each step: jax-js dispatches lazily, and an unforced chain would hold every sequence's
 * activations and gradients until the end (measured: 16 sequences of 128 on the default preset,
 * 0.9 GB instead of 0.2 GB).
 */
export async function diagonalFisher(
  params: LlamaParams,
  config: LlamaConfig,
  { tokens, samples, seqLen }: { tokens: Int32Array; samples: number; seqLen: number },
): Promise<LlamaParams> {
  const lossAndGrad = makeLossAndGrad(config);
  // One jit'ed step adds g² to the sums (eager adds would chain lazily).
  const accumulate = jit((sums: LlamaParams, grads: LlamaParams) => {
    const next: LlamaParams = {};
    for (const k of Object.keys(sums)) next[k] = sums[k]!.add(np.square(grads[k]!));
    return next;
  });
  let sums: LlamaParams = {};
  for (const [name, p] of Object.entries(params)) {
    sums[name] = np.zeros(p.shape, { dtype: np.float32 });
  }
  try {
    for (let s = 0; s < samples; s++) {
      const row = tokens.subarray(s * seqLen, (s + 1) * seqLen);
      const shape = [1, seqLen - 1];
      const inputs = np.array(row.subarray(0, seqLen - 1), { shape, dtype: np.int32 });
      const targets = np.array(row.subarray(1), { shape, dtype: np.int32 });
      const [loss, grads] = lossAndGrad(tree.ref(params), inputs, targets);
      loss.dispose();
      sums = accumulate(sums, grads);
      await blockUntilReady(sums);
    }
  } catch (error) {
    tree.dispose(sums);
    throw error;
  } finally {
    lossAndGrad.dispose();
    accumulate.dispose();
  }
  const out: LlamaParams = {};
  for (const [name, sum] of Object.entries(sums)) out[name] = sum.div(samples);
  return out;
}

/** XᵀX / tokens of every decoder linear layer's input, keyed by the weight's name. */
export function inputGrams(
  params: LlamaParams,
  config: LlamaConfig,
  calib: { tokens: Int32Array; samples: number; seqLen: number },
): LlamaParams {
  const out: LlamaParams = {};
  const work: LlamaParams = tree.ref(params);
  try {
    calibrateBlocks(
      work,
      config,
      calib.tokens,
      calib,
      (_, stats) => {
        for (const [module, s] of stats) {
          const n = Math.sqrt(s.gram!.length);
          const g = Float32Array.from(s.gram!, (v) => v / s.tokens);
          out[`${module}.weight`] = np.array(g, { shape: [n, n], dtype: np.float32 });
        }
        return {};
      },
      { gram: true },
    );
  } catch (error) {
    tree.dispose(out);
    throw error;
  } finally {
    tree.dispose(work);
  }
  return out;
}

/**
 * Measure `kind` for each of `refs` (one model at a time) and keep the results on disk.
 * `calibrationOf(ref)` gives the model's calibration and the config key it came from.
 */
export async function measureStatistics(
  kind: StatisticsKind,
  refs: string[],
  sources: Map<string, ModelSource>,
  tokenizer: Tokenizer,
  calibrationOf: (ref: string) => { calib: CalibrationConfig; where: string },
  onModel?: (ref: string) => void,
): Promise<MergeStatistics> {
  const dir = mkdtempSync(join(tmpdir(), "rankwise-merge-stats-"));
  const files = new Map<string, LazySafetensors>();
  const close = () => rmSync(dir, { recursive: true, force: true });
  // Models that share a calibration share its token ids (a corpus is encoded once).
  const drawn = new Map<string, ReturnType<typeof calibrationIds>>();
  try {
    for (const [i, ref] of refs.entries()) {
      const source = sources.get(ref)!;
      const { calib, where } = calibrationOf(ref);
      const key = JSON.stringify([calib, source.config.max_position_embeddings]);
      if (!drawn.has(key)) drawn.set(key, calibrationIds(calib, tokenizer, source.config, where));
      const ids = drawn.get(key)!;
      const params: LlamaParams = {};
      let stats: LlamaParams = {};
      try {
        for (const name of Object.keys(source.shapes)) params[name] = await source.read(name);
        stats =
          kind === "fisher"
            ? await diagonalFisher(params, source.config, ids)
            : inputGrams(params, source.config, ids);
        const file = join(dir, `${i}.safetensors`);
        await saveSafetensors(file, stats);
        files.set(ref, await openSafetensorsLazy(file));
      } finally {
        tree.dispose(params);
        tree.dispose(stats);
      }
      onModel?.(ref);
    }
  } catch (error) {
    close();
    throw error;
  }
  return { files, close };
}
