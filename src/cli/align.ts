/**
 * `rankwise align --to <reference> <model> --out <dir> [--residual] [--seed n] [--max-iter n]`:
 * Git Re-Basin weight matching (src/weights/align/). The positional model is permuted — its MLP
 * units and attention heads (and with --residual the hidden units of the whole model) — so that
 * its weights come as close as they can to the reference's, without changing what it computes;
 * merging the two afterwards averages matching units instead of unrelated ones.
 *
 * Output: a model folder (config.json, model.safetensors, the permuted model's own tokenizer
 * files) and align.json: the models, the settings, the matching objective Σ⟨W_ref, W⟩ and the
 * distance ‖θ_ref − θ‖ before and after, and every permutation (entry i = the input unit that
 * became unit i). Both models must have the same architecture; differences are one line, exit 2.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { stderrProgress } from "../io/hub.js";
import { checkOutputDir, ensureOutputDir } from "../io/output-dir.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { type OpenedModel, openModel } from "../nn/open-model.js";
import { saveModel } from "../nn/pretrained.js";
import { permutationToJson, permuteLlama, weightMatching } from "../weights/align/index.js";

/** The record written beside the weights. */
export const ALIGN_RECORD = "align.json";

/** The configuration fields two models must share to be aligned. */
const SHAPE_FIELDS = [
  "vocab_size",
  "hidden_size",
  "intermediate_size",
  "num_hidden_layers",
  "num_attention_heads",
  "num_key_value_heads",
  "head_dim",
  "tie_word_embeddings",
] as const;

interface AlignFlags {
  to?: string;
  out?: string;
  residual?: boolean;
  seed?: string;
  maxIter?: string;
  quiet?: boolean;
  json?: boolean;
}

function integer(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return n;
}

/** Throws naming the first field in which the two configurations differ. */
function checkSameShape(ref: LlamaConfig, model: LlamaConfig, to: string, spec: string): void {
  for (const field of SHAPE_FIELDS) {
    if (ref[field] !== model[field]) {
      throw new UsageError(
        `--to ${to} and ${spec} differ in ${field} (${ref[field]} vs ${model[field]}): alignment needs two models of the same architecture`,
      );
    }
  }
}

export async function alignCommand(spec: string, opts: AlignFlags): Promise<void> {
  if (typeof opts.to !== "string") {
    throw new UsageError(
      "align: --to <model> is required: the reference model to align to (a run folder, model folder or Hub id)",
    );
  }
  if (typeof opts.out !== "string")
    throw new UsageError("align: --out <dir> is required (a new folder)");
  const out = opts.out;
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new UsageError(`--out ${out} is not an empty folder: choose a new folder for the model`);
  }
  const seed = integer("seed", opts.seed, 0, 0);
  const maxIter = integer("max-iter", opts.maxIter, 100, 1);
  const residual = opts.residual === true;
  checkOutputDir(out);

  const progress = opts.quiet ? undefined : stderrProgress();
  let reference: OpenedModel | undefined;
  let model: OpenedModel | undefined;
  let params: LlamaParams = {};
  try {
    reference = await openModel(opts.to, { onProgress: progress });
    model = await openModel(spec, { onProgress: progress });
    params = model.params;
    const config = model.config;
    checkSameShape(reference.config, config, opts.to, spec);
    const groups = residual
      ? "MLP units, attention heads and the residual stream"
      : "MLP units and attention heads";
    if (!opts.quiet) {
      process.stderr.write(
        `aligning ${model.source.path} to ${reference.source.path} by weight matching (${groups} of ${config.num_hidden_layers} layers)\n`,
      );
      // Token rows are matched by id (they are never permuted): worth knowing when ids differ.
      const same = (t: OpenedModel) => JSON.stringify(t.tokenizer.toJSON());
      if (same(reference) !== same(model)) {
        process.stderr.write(
          "  note: the two models' tokenizers differ, so their token ids may mean different things\n",
        );
      }
    }
    const found = weightMatching(reference.params, params, config, {
      seed,
      residual,
      maxIter,
      onSweep: opts.quiet
        ? undefined
        : (sweep, improved) =>
            process.stderr.write(`  sweep ${sweep}: ${improved} groups improved\n`),
    });
    const input = params;
    params = {}; // permuteLlama consumes them
    params = permuteLlama(input, config, found.permutation);
    ensureOutputDir(out);
    await saveModel(out, { config, params });
    for (const [name, body] of Object.entries(tokenizerFiles(model.tokenizer.toJSON()))) {
      await writeFileAtomic(join(out, name), body);
    }
    const record = {
      method: "weight_matching",
      reference: reference.source.path,
      model: model.source.path,
      seed,
      residual,
      sweeps: found.sweeps,
      objective: { before: found.objectiveBefore, after: found.objectiveAfter },
      distance: { before: found.distanceBefore, after: found.distanceAfter },
      convention: "unit i of the output is unit permutation[i] of the model",
      permutations: permutationToJson(found.permutation),
    };
    await writeFileAtomic(join(out, ALIGN_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    if (opts.json) {
      const { permutations: _, ...summary } = record;
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      const f = (x: number) => x.toPrecision(6);
      process.stdout.write(
        `aligned after ${found.sweeps} sweeps: objective ${f(found.objectiveBefore)} → ${f(found.objectiveAfter)}, distance ${f(found.distanceBefore)} → ${f(found.distanceAfter)}: ${out}\n`,
      );
    }
  } finally {
    tree.dispose(params);
    if (reference) tree.dispose(reference.params);
  }
}
