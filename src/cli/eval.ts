/**
 * `rankwise eval <model|run|hub-id> [--adapter <dir>] --data <corpus|file> --json`: the model's
 * loss on the validation split of a corpus, as {"loss", "perplexity", "bitsPerChar", "tokens",
 * "sparsity", "parameters", "parameterBytes"}.
 *
 * Rule: the split and the loss are the trainer's — splitTokens (the last --val-fraction of the
 * token stream) and run-data.ts's `evaluate` over the fixed non-overlapping windows of
 * --seq-len tokens, --batch-size rows at a time. Unlike a run's periodic evaluation (its
 * --eval-batches), every window is used unless --eval-batches caps them; a last batch with fewer
 * rows is left out (as the trainer does), so `tokens` is the count of predicted tokens actually
 * scored. A run folder's own data, seq-len, batch size and split are the defaults, so
 * `eval <run> --eval-batches <its eval-batches>` reproduces its last validation loss. When the
 * split has fewer windows than --batch-size, the batch shrinks to fit.
 *
 * perplexity = e^loss; bitsPerChar = loss / ln 2 × validation tokens per character.
 * sparsity, parameters and parameterBytes: cli/eval-sizes.ts (zeros of the decoder linear
 * weights; tensor elements and bytes as stored, from the safetensors headers).
 */
import { jit, type numpy as np } from "@jax-js/jax";
import { validationStarts } from "../data/sampler.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { stderrProgress } from "../io/hub.js";
import { type LlamaParams, llamaLoss } from "../nn/llama.js";
import { applyAdapter, openModel } from "../nn/open-model.js";
import { readTrainerMeta } from "../train/checkpoint.js";
import { DEFAULT_CONFIG } from "../train/config.js";
import { type Data, evaluate } from "../train/run-data.js";
import { dataFlag, dataText, modelSplit, numericFlags } from "./corpus-flags.js";
import { decoderSparsity, storedSize, storedWeightFiles } from "./eval-sizes.js";

/** What `eval --json` prints. */
export interface EvalResult {
  loss: number;
  perplexity: number;
  bitsPerChar: number;
  tokens: number;
  /** Share of exact zeros in the decoder linear weights (cli/eval-sizes.ts). */
  sparsity: number;
  /** Elements of the weight tensors as stored (factors and quantised tensors as stored). */
  parameters: number;
  /** Bytes of the weight tensors as stored on disk, from the safetensors headers. */
  parameterBytes: number;
}

type Flags = Record<string, string | boolean | undefined>;

export async function evalCommand(spec: string, opts: Flags): Promise<void> {
  const flags = numericFlags(opts, ["seqLen", "batchSize", "evalBatches", "valFraction"]);
  const run = readTrainerMeta(spec)?.config; // a run folder's settings are the defaults
  const dataName = dataFlag(opts, run);
  const text = dataText(dataName);

  const opened = await openModel(spec, {
    tokenizer: opts.tokenizer as string | undefined,
    text,
    onProgress: stderrProgress(),
    keepLowRank: opts.adapter === undefined, // factored layers run as factors; adapters need W
  });
  let params: LlamaParams = opened.params;
  if (typeof opts.adapter === "string") params = await applyAdapter(params, opts.adapter);
  let compiled: { dispose(): void } | undefined;
  try {
    const seqLen = flags.seqLen ?? run?.seqLen ?? DEFAULT_CONFIG.seqLen;
    const batchSize = flags.batchSize ?? run?.batchSize ?? DEFAULT_CONFIG.batchSize;
    const valFraction = flags.valFraction ?? run?.valFraction ?? DEFAULT_CONFIG.valFraction;
    const { train, val } = modelSplit(opened, dataName, text, { seqLen, valFraction });
    const windows = validationStarts(val.length, seqLen).length;
    if (windows === 0) {
      throw new UsageError(
        `--data ${dataName} is too small for --seq-len ${seqLen}: its validation split has ${val.length} tokens, one window needs ${seqLen + 1}`,
      );
    }
    const capped = flags.evalBatches ? Math.min(windows, flags.evalBatches * batchSize) : windows;
    const rows = Math.min(batchSize, capped);
    const batches = Math.floor(capped / rows);
    const data: Data = {
      tokenizer: opened.tokenizer,
      train,
      val,
      tokensPerChar: val.length / opened.tokenizer.decode(val).length,
    };
    const scored = batches * rows * seqLen;
    if (!opts.json) {
      process.stderr.write(
        `evaluating ${opened.source.path}${typeof opts.adapter === "string" ? ` + adapter ${opts.adapter}` : ""} on the validation split of ${dataName}: ${scored} tokens (${batches} batches of ${rows} × ${seqLen})\n`,
      );
    }
    const config = opened.config;
    const lossFn = jit((p: LlamaParams, x: np.Array, y: np.Array) => llamaLoss(p, x, y, config));
    compiled = lossFn;
    const loss = await evaluate(lossFn, params, data, {
      ...DEFAULT_CONFIG,
      seqLen,
      batchSize: rows,
      evalBatches: batches,
    });
    const adapter = typeof opts.adapter === "string" ? opts.adapter : undefined;
    const result: EvalResult = {
      loss,
      perplexity: Math.exp(loss),
      bitsPerChar: (loss / Math.LN2) * data.tokensPerChar,
      tokens: scored,
      sparsity: decoderSparsity(params),
      ...(await storedSize(storedWeightFiles(opened.source.path, adapter))),
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(
        `loss ${loss.toFixed(4)}  perplexity ${result.perplexity.toFixed(3)}  bits/char ${result.bitsPerChar.toFixed(4)}  tokens ${scored}\n` +
          `sparsity ${(result.sparsity * 100).toFixed(2)}%  parameters ${result.parameters}  bytes ${result.parameterBytes}\n`,
      );
    }
  } finally {
    compiled?.dispose();
    tree.dispose(params);
  }
}
