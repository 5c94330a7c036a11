/**
 * `rankwise export <model|run> --format gguf [--type f32|f16|q8_0|q4_0] --out <file>`: any model
 * Rankwise opens (run folder, model folder, Hub id; nn/open-model.ts) as a GGUF file that
 * llama.cpp loads, tokenizer included (weights/export/). The flags are checked before the model
 * is opened, so a typo costs milliseconds; bad input is one line, exit 2. Default type f32
 * (lossless). Matrices whose rows are not a multiple of 32 stay f16 under q8_0/q4_0, and the
 * command says so on stderr.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { stderrProgress } from "../io/hub.js";
import { RESIDUAL_PROJECTION } from "../nn/llama.js";
import { openModel } from "../nn/open-model.js";
import { EXPORT_TYPES, type ExportType, exportGguf } from "../weights/export/index.js";

/** The export formats. */
export const EXPORT_FORMATS = ["gguf"] as const;

export interface ExportOptions {
  format?: string;
  type?: string;
  out?: string;
  tokenizer?: string;
  json?: boolean;
}

/** The checked flags (one UsageError line for the first bad one). */
export function checkExportFlags(opts: ExportOptions): { type: ExportType; out: string } {
  if (opts.format === undefined) {
    throw new UsageError(`export: --format is required (one of ${EXPORT_FORMATS.join(", ")})`);
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) {
    throw new UsageError(
      `--format must be one of ${EXPORT_FORMATS.join(", ")}, got ${JSON.stringify(opts.format)}`,
    );
  }
  const type = opts.type ?? "f32";
  if (!(EXPORT_TYPES as readonly string[]).includes(type)) {
    throw new UsageError(
      `--type must be one of ${EXPORT_TYPES.join(", ")}, got ${JSON.stringify(type)}`,
    );
  }
  if (opts.out === undefined || opts.out === "") {
    throw new UsageError("export: --out <file> is required (the .gguf file to write)");
  }
  const out = opts.out;
  if (existsSync(out) && statSync(out).isDirectory()) {
    throw new UsageError(`--out ${out} is a folder; give the path of the .gguf file to write`);
  }
  const parent = dirname(resolve(out));
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw new UsageError(`--out ${out}: the folder ${parent} does not exist`);
  }
  return { type: type as ExportType, out };
}

export async function exportCommand(spec: string, opts: ExportOptions): Promise<void> {
  const { type, out } = checkExportFlags(opts);
  const opened = await openModel(spec, { tokenizer: opts.tokenizer, onProgress: stderrProgress() });
  // A stored INLP projection (`edit inlp`) has no llama.cpp counterpart.
  const projection = Object.keys(opened.params).find((n) => n.endsWith(`.${RESIDUAL_PROJECTION}`));
  if (projection !== undefined) {
    tree.dispose(opened.params);
    throw new UsageError(
      `${spec} holds ${projection} (rankwise edit inlp), which llama.cpp cannot run: edit with --fold for a model GGUF can hold`,
    );
  }
  try {
    const result = await exportGguf(opened, type, out, spec);
    if (result.fallbackF16.length > 0) {
      process.stderr.write(
        `rankwise: ${result.fallbackF16.length} matrices have rows that are not a multiple of 32 and stay f16: ${result.fallbackF16.join(", ")}\n`,
      );
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ format: "gguf", type, ...result })}\n`);
    } else {
      const mib = (result.bytes / 2 ** 20).toFixed(2);
      process.stdout.write(
        `exported ${spec} to ${out}: GGUF ${type}, ${result.tensors} tensors, ${mib} MiB\n`,
      );
    }
  } finally {
    tree.dispose(opened.params);
  }
}
