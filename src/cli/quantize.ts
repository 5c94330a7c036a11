/**
 * `rankwise quantize <model|run> --method rtn|gptq --bits 8|4 [--group-size g]
 * [--calibration <corpus|file>] [--samples n] [--seq-len t] [--seed n] --out <dir>`: weight
 * quantisation of a LLaMA-style model's decoder linear layers (weights/quantize/), written as a
 * model folder — config.json with `quantization_config`, model.safetensors with integer codes
 * plus float32 scales (weights/quantize/format.ts), tokenizer.json, and quantize.json recording
 * what was done — that eval, generate, finetune, merge, prune and export open (dequantised).
 *
 * --group-size g: one scale per output row and g consecutive inputs (g must divide every layer's
 * input size); default one scale per row. GPTQ calibrates as `prune` does (calibration-flags.ts);
 * RTN needs no calibration. Prints the parameter bytes before (float32) and after.
 * Bad input: one line naming the flag and what it accepts, exit 2.
 */
import { join } from "node:path";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { stderrProgress } from "../io/hub.js";
import { checkOutputDir, ensureOutputDir } from "../io/output-dir.js";
import { openModel } from "../nn/open-model.js";
import { QUANT_METHODS, quantizeModel, saveQuantizedModel } from "../weights/quantize/index.js";
import { checkQuantizeSettings } from "../weights/quantize/quantize-model.js";
import type { QuantizeSettings } from "../weights/quantize/types.js";
import {
  calibrationFlags,
  calibrationInput,
  calibrationSeqLen,
  calibrationText,
  integerFlag,
  newOutFolder,
} from "./calibration-flags.js";

type Flags = Record<string, string | boolean | undefined>;

/** The record written beside the weights. */
export const QUANTIZE_RECORD = "quantize.json";

/** The validated flags (no model needed yet). */
function parseFlags(opts: Flags) {
  const names = Object.keys(QUANT_METHODS).join(", ");
  if (typeof opts.method !== "string") {
    throw new UsageError(`--method is required: one of ${names}`);
  }
  if (!Object.hasOwn(QUANT_METHODS, opts.method)) {
    throw new UsageError(`--method must be one of ${names}; got "${opts.method}"`);
  }
  const method = opts.method as QuantizeSettings["method"];
  if (opts.bits === undefined) throw new UsageError("--bits is required: 8 or 4");
  if (opts.bits !== "8" && opts.bits !== "4") {
    throw new UsageError(`--bits must be 8 or 4, got "${opts.bits}"`);
  }
  const bits = Number(opts.bits) as 8 | 4;
  const groupSize =
    opts.groupSize === undefined ? undefined : integerFlag("group-size", opts.groupSize, 1);
  const out = newOutFolder(opts);
  return { method, bits, groupSize, out, ...calibrationFlags(opts) };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

export async function quantizeCommand(spec: string, opts: Flags): Promise<void> {
  const flags = parseFlags(opts);
  const { method, bits, groupSize, out, samples, seed } = flags;
  checkOutputDir(out);

  const calibrated = method === "gptq";
  const { dataName, text } = calibrationText(spec, opts, calibrated);
  const opened = await openModel(spec, { onProgress: stderrProgress() });
  let params = opened.params;
  try {
    const { config } = opened;
    for (const [flag, settings] of [
      ["--bits", { method, bits }],
      ["--group-size", { method, bits, groupSize }],
    ] as const) {
      try {
        checkQuantizeSettings(config, settings);
      } catch (error) {
        throw new UsageError(`${flag}: ${(error as Error).message}`);
      }
    }
    const seqLen = calibrationSeqLen(flags.seqLen, config.max_position_embeddings);
    const calibration =
      calibrated && text !== undefined
        ? calibrationInput(opened, dataName, text, { samples, seqLen, seed })
        : undefined;
    const grouping = groupSize ? `groups of ${groupSize}` : "one scale per row";
    process.stderr.write(
      `quantizing ${opened.source.path} with ${method} (${bits}-bit, ${grouping}) over ${config.num_hidden_layers} blocks${calibration ? `, calibration: ${samples} × ${seqLen} tokens of ${dataName} (seed ${seed})` : ""}\n`,
    );
    const input = params;
    params = {}; // quantizeModel consumes them, also when it throws
    const result = quantizeModel(input, config, {
      method,
      bits,
      groupSize,
      calibration,
      onBlock: (i) =>
        process.stderr.write(`  block ${i + 1}/${config.num_hidden_layers} quantized\n`),
    });
    params = result.params;
    ensureOutputDir(out);
    await saveQuantizedModel(out, {
      config,
      params,
      quantized: result.quantized,
      settings: { method, bits, groupSize },
    });
    for (const [name, body] of Object.entries(tokenizerFiles(opened.tokenizer.toJSON())))
      await writeFileAtomic(join(out, name), body);
    const record = {
      source: opened.source.path,
      ...result.summary,
      calibration: calibration ? { data: dataName, samples, seqLen, seed } : null,
    };
    await writeFileAtomic(join(out, QUANTIZE_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    const { bytesBefore, bytesAfter } = result.summary;
    if (opts.json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else {
      process.stdout.write(
        `quantized with ${method} (${bits}-bit): parameters ${mib(bytesBefore)} → ${mib(bytesAfter)} (${bytesBefore} → ${bytesAfter} bytes, ×${(bytesBefore / bytesAfter).toFixed(2)} smaller): ${out}\n`,
      );
    }
  } finally {
    tree.dispose(params);
  }
}
