/**
 * `rankwise adapter merge` and `rankwise adapter inspect`: PEFT adapter folders at the command
 * line.
 *
 *   merge    base (run folder or model folder) + adapter → a model folder (config.json,
 *            model.safetensors, tokenizer.json when the base has one Rankwise reads): W + ΔW as
 *            src/peft/merge.ts computes it, refused when the result is not finite.
 *   inspect  the config (PEFT's fields), the targeted modules with their ranks and shapes, the
 *            trainable parameter count and the weights file's size, from the config and the
 *            safetensors header alone (no base model needed); --json for machines.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { ensureOutputDir } from "../io/output-dir.js";
import { readSafetensorsHeader } from "../io/safetensors.js";
import { saveModel } from "../nn/pretrained.js";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  configFromPeftJson,
  configToPeftJson,
  PEFT_PREFIX,
} from "../peft/index.js";
import { openBase, withAdapter } from "../train/adapted-model.js";

export async function adapterMergeCommand(opts: {
  model?: string;
  adapter?: string;
  out?: string;
}): Promise<void> {
  for (const flag of ["model", "adapter", "out"] as const) {
    if (opts[flag] === undefined) throw new UsageError(`adapter merge: --${flag} is required`);
  }
  const out = String(opts.out);
  if (existsSync(out) && statSync(out).isDirectory() && readdirSync(out).length > 0)
    throw new UsageError(`--out ${out} is not empty: choose a new folder for the merged model`);
  const opened = await openBase(String(opts.model));
  const params = await withAdapter(opened, String(opts.adapter));
  try {
    ensureOutputDir(out);
    await saveModel(out, { config: opened.config, params });
    for (const [name, text] of Object.entries(tokenizerFiles(opened.tokenizer.toJSON())))
      await writeFileAtomic(join(out, name), text);
  } finally {
    tree.dispose(params);
  }
  process.stdout.write(`merged ${opts.adapter} into ${opts.model}: ${out}\n`);
}

/** What `adapter inspect` reports. */
interface AdapterSummary {
  dir: string;
  config: Record<string, unknown>;
  modules: { name: string; rank: number; shapes: Record<string, number[]> }[];
  trainableParameters: number;
  fileBytes: number;
}

async function summarize(dir: string): Promise<AdapterSummary> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(configPath))
    throw new UsageError(`${dir} is not a PEFT adapter folder (no ${ADAPTER_CONFIG_FILE})`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (error) {
    throw new UsageError(`${configPath} is not valid JSON: ${(error as Error).message}`);
  }
  const { config } = configFromPeftJson(json, configPath);
  const weights = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weights)) throw new UsageError(`${dir} has no ${ADAPTER_WEIGHTS_FILE}`);
  let header: Awaited<ReturnType<typeof readSafetensorsHeader>>;
  try {
    header = await readSafetensorsHeader(weights);
  } catch (error) {
    throw new UsageError(`${weights}: ${(error as Error).message.split("\n")[0]}`);
  }
  const modules = new Map<string, AdapterSummary["modules"][number]>();
  let count = 0;
  for (const t of header.tensors) {
    count += t.shape.reduce((a, b) => a * b, 1);
    const key = t.name.startsWith(PEFT_PREFIX) ? t.name.slice(PEFT_PREFIX.length) : t.name;
    const m =
      /^(.*)\.(lora_A\.weight|lora_B\.weight|lora_magnitude_vector|lora_embedding_A|lora_embedding_B)$/.exec(
        key,
      );
    const name = m ? m[1] : key.replace(/\.weight$/, "");
    const part = m ? m[2].replace(/\.weight$/, "") : "weight";
    const entry = modules.get(name) ?? { name, rank: 0, shapes: {} };
    entry.shapes[part] = t.shape;
    if (part === "lora_A" || part === "lora_embedding_A") entry.rank = t.shape[0];
    modules.set(name, entry);
  }
  return {
    dir,
    config: configToPeftJson(config),
    modules: [...modules.values()].sort((a, b) => a.name.localeCompare(b.name)),
    trainableParameters: count,
    fileBytes: statSync(weights).size,
  };
}

export async function adapterInspectCommand(dir: string, opts: { json?: boolean }): Promise<void> {
  const s = await summarize(dir);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const c = s.config;
  const lines = [
    `adapter ${dir}`,
    `  type ${c.peft_type}, r ${c.r}, lora_alpha ${c.lora_alpha}${c.use_rslora ? ", rsLoRA" : ""}${c.use_dora ? ", DoRA" : ""}, init ${JSON.stringify(c.init_lora_weights)}`,
    `  target_modules ${JSON.stringify(c.target_modules)}, base ${c.base_model_name_or_path ?? "(not recorded)"}`,
    `  ${s.modules.length} modules, ${s.trainableParameters.toLocaleString("en-US")} parameters, ${s.fileBytes.toLocaleString("en-US")} bytes on disk`,
    ...s.modules.map(
      (m) =>
        `    ${m.name}  rank ${m.rank}  ${Object.entries(m.shapes)
          .map(([k, v]) => `${k} [${v.join(", ")}]`)
          .join("  ")}`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
