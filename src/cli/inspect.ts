/** `rankwise inspect`: summary of a run folder, a model folder or a .safetensors file. */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import * as tree from "../engine/tree.js";
import { readSafetensorsHeader } from "../io/safetensors.js";
import { checkpointPath, hasCheckpoint, loadCheckpoint } from "../train/checkpoint.js";
import { UsageError } from "../train/config.js";
import { readMetrics } from "../train/metrics.js";

function print(json: boolean, value: Record<string, unknown>, lines: string[]): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${lines.join("\n")}\n`);
}

export async function inspectCommand(path: string, opts: { json?: boolean }): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`no such file or folder: ${path}`);
  const json = Boolean(opts.json);
  if (statSync(path).isDirectory()) {
    if (!hasCheckpoint(path)) {
      const weights = join(path, "model.safetensors");
      if (existsSync(weights)) return inspectFile(weights, json);
      throw new UsageError(
        `${path} holds no checkpoint (checkpoint/trainer.json) nor model.safetensors`,
      );
    }
    const ck = await loadCheckpoint(path);
    const rows = readMetrics(join(path, "metrics.jsonl"));
    const lastTrain = rows.filter((r) => r.type === "train").at(-1) as
      | { loss?: number }
      | undefined;
    const lastEval = rows.filter((r) => r.type === "eval").at(-1) as
      | { valLoss?: number }
      | undefined;
    const summary = {
      checkpoint: checkpointPath(path),
      step: ck.meta.step,
      targetSteps: ck.meta.config.steps,
      optimizer: ck.meta.config.optimizer,
      model: ck.meta.config.model,
      parameters: tree.size(ck.params),
      optimizerStateBytes: tree.stateBytes(ck.optState),
      lastTrainLoss: lastTrain?.loss ?? null,
      lastValLoss: lastEval?.valLoss ?? null,
      config: ck.meta.config,
    };
    tree.dispose(ck.params);
    tree.dispose(ck.optState);
    return print(json, summary, [
      `run ${path}: step ${summary.step}/${summary.targetSteps}, ${summary.model} model, optimizer ${summary.optimizer}`,
      `parameters ${summary.parameters}, optimizer state ${summary.optimizerStateBytes} bytes`,
      `last train loss ${summary.lastTrainLoss ?? "-"}, last validation loss ${summary.lastValLoss ?? "-"}`,
    ]);
  }
  return inspectFile(path, json);
}

async function inspectFile(path: string, json: boolean): Promise<void> {
  let header: Awaited<ReturnType<typeof readSafetensorsHeader>>;
  try {
    header = await readSafetensorsHeader(path);
  } catch (error) {
    // The reader's messages already name the file; don't repeat it.
    const message = (error as Error).message;
    throw new UsageError(message.includes(path) ? message : `${path}: ${message}`);
  }
  const tensors = header.tensors;
  const total = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  print(json, { path, tensors, metadata: header.metadata, elements: total }, [
    `${path}: ${tensors.length} tensors, ${total} elements`,
    ...tensors.map((t) => `  ${t.name}  ${t.dtype}[${t.shape.join(", ")}]`),
    ...Object.entries(header.metadata).map(
      ([k, v]) => `  metadata ${k} = ${v.length > 80 ? `${v.slice(0, 77)}...` : v}`,
    ),
  ]);
}
