/**
 * The LoRA family (LoRA, rsLoRA, DoRA, and folders saved from PiSSA/OLoRA/LoRA-GA/EVA runs) as
 * per-module updates (./delta.ts), the same ΔW that src/peft/merge.ts adds:
 *
 *   linear     ΔW = s·B·A                      factors L = s·B [out, r], R = A [r, in]
 *   embedding  ΔE = s·(B·A)ᵀ = s·Aᵀ·Bᵀ         factors L = s·Aᵀ [vocab, r], R = Bᵀ [r, dim]
 *   DoRA       ΔW = (m/‖W + s·B·A‖_row)·(W + s·B·A) − W   (needs W; no exact factors)
 *
 * with s = α/r (rsLoRA α/√r) per module from rank_pattern / alpha_pattern.
 *
 * Without a base model the module shapes come from the folder's safetensors header
 * (lora_A [r, in] and lora_B [out, r] give [out, in]; an embedding's A [r, vocab] and
 * B [dim, r] give [vocab, dim]; modules_to_save tensors their own shape), so a LoRA adapter
 * converts or combines on its own; DoRA needs the base (a one-line error otherwise).
 */
import { join } from "node:path";
import { UsageError } from "../engine/errors.js";
import { readSafetensorsHeader } from "../io/safetensors.js";
import type { AdapterDelta, DeltaReader } from "./delta.js";
import { rowNorm } from "./dora.js";
import { ADAPTER_WEIGHTS_FILE, type Adapter, loadAdapter, PEFT_PREFIX } from "./files.js";
import { loraDelta } from "./lora.js";
import { type AdapterPlan, adapterKeys } from "./match.js";

/** Base shapes implied by a LoRA folder's tensors (HF name → shape). */
export async function shapesFromLoraFolder(dir: string): Promise<Record<string, number[]>> {
  const path = join(dir, ADAPTER_WEIGHTS_FILE);
  let header: Awaited<ReturnType<typeof readSafetensorsHeader>>;
  try {
    header = await readSafetensorsHeader(path);
  } catch (error) {
    throw new UsageError(`${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  const byKey = new Map(
    header.tensors.map((t) => [
      t.name.startsWith(PEFT_PREFIX) ? t.name.slice(PEFT_PREFIX.length) : t.name,
      t.shape,
    ]),
  );
  const shapes: Record<string, number[]> = {};
  for (const [key, shape] of byKey) {
    let m = /^(.*)\.lora_A\.weight$/.exec(key);
    if (m) {
      const b = byKey.get(`${m[1]}.lora_B.weight`);
      if (b) shapes[`${m[1]}.weight`] = [b[0], shape[1]];
      continue;
    }
    m = /^(.*)\.lora_embedding_A$/.exec(key);
    if (m) {
      const b = byKey.get(`${m[1]}.lora_embedding_B`);
      if (b) shapes[`${m[1]}.weight`] = [shape[1], b[0]];
      continue;
    }
    if (
      /\.(lora_B\.weight|lora_B\.bias|lora_embedding_B|lora_magnitude_vector(\.weight)?)$/.test(key)
    )
      continue;
    if (key.endsWith(".base_layer.weight")) continue;
    shapes[key] = shape;
  }
  return shapes;
}

/** A loaded LoRA adapter as per-module updates. Takes ownership of `adapter.params`. */
export function loraAdapterDelta(adapter: Adapter, plan: AdapterPlan, source = ""): AdapterDelta {
  const params = adapter.params;
  const byName = new Map(plan.modules.map((m) => [m.name, m]));
  const spec = (name: string) => {
    const m = byName.get(name);
    if (m === undefined) throw new RangeError(`${source}: no adapted module ${name}`);
    return m;
  };
  const dora = plan.modules.some((m) => m.dora);
  return {
    type: dora ? "DoRA" : adapter.config.useRslora ? "rsLoRA" : "LoRA",
    source,
    baseModel: adapter.config.baseModelNameOrPath,
    modules: plan.modules.map((m) => ({ name: m.name, kind: m.kind, shape: m.shape, rank: m.r })),
    needsBase: dora,
    factored: !dora,
    delta(name, base) {
      const m = spec(name);
      const k = adapterKeys(m);
      const d = loraDelta(m, params[k.a].ref, params[k.b].ref);
      if (!k.mag) return d;
      if (base === undefined) {
        d.dispose();
        throw new UsageError(
          `${source}: DoRA's update of ${name} depends on the base weights; give the base model (--model)`,
        );
      }
      // merge.ts: W' = (m/n)·(W + ΔW) with n = ‖W + ΔW‖ per row; the update is W' − W.
      const v = base.ref.add(d);
      const scale = params[k.mag].ref.div(rowNorm(v.ref)).reshape([-1, 1]);
      return v.mul(scale).sub(base.ref);
    },
    lowRank(name) {
      const m = spec(name);
      const k = adapterKeys(m);
      if (k.mag) return undefined;
      if (m.kind === "embedding")
        return {
          left: params[k.a].ref.transpose().mul(m.scaling),
          right: params[k.b].ref.transpose(),
        };
      return { left: params[k.b].ref.mul(m.scaling), right: params[k.a].ref };
    },
    saved: Object.fromEntries(plan.saved.map((s) => [s, params[s]])),
    modulesToSave: adapter.config.modulesToSave,
    dispose() {
      for (const a of Object.values(params)) a.dispose();
    },
  };
}

/** {@link DeltaReader} of peft_type "LORA". */
export const readLoraDelta: DeltaReader = async (dir, _config, baseShapes) => {
  const shapes = baseShapes ?? (await shapesFromLoraFolder(dir));
  const loaded = await loadAdapter(dir, shapes);
  return loraAdapterDelta(loaded, loaded.plan, dir);
};
