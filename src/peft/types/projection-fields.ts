/**
 * What VeRA and RandLoRA share: frozen random projections stored once for all modules
 * (PEFT's `base_model.<name>` buffers), sized by the largest out/in over the targeted modules
 * (PEFT's VeraModel._find_dim / RandLoraModel._find_dim), and the config fields that go with them
 * (projection_prng_key, save_projection).
 *
 * Rule: the projections are constants of the adapter. They live in the adapter's tensors (so
 * folders, checkpoints and merges carry them, as PEFT's save_projection=true does), pass through
 * lax.stopGradient where they are used, and the type's trainer (./freeze-trainer.ts) zeroes
 * their updates, so no optimizer (momentum, weight decay) moves them: they stay bit for bit.
 * The types name them in `frozen`, so parameter counts leave them out.
 *
 * Deviations: PEFT draws them from a torch.Generator seeded by projection_prng_key; Rankwise draws
 * from jax-js (seeded by finetune's seed), so the key is recorded but the values differ. A folder
 * written with save_projection false holds no projections and PEFT rebuilds them from torch's
 * generator, which Rankwise cannot reproduce: such folders are refused with one line.
 */
import { lax, type numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { boolField, intField } from "./config.js";
import { freezingTrainer } from "./freeze-trainer.js";
import type { AdapterTrainer, FieldSpec, TensorGetter, TypedModule } from "./registry.js";

export const PROJECTION_FIELDS: FieldSpec[] = [
  intField("projectionPrngKey", 0, 0),
  boolField("saveProjection", true),
];

/** Refuse save_projection false (see the header). */
export function checkSaveProjection(title: string, saveProjection: boolean): void {
  if (!saveProjection)
    throw new UsageError(
      `adapter config: save_projection false is not supported (${title}'s projections would come from torch's generator); accepted: true`,
    );
}

/** [largest out, largest in] over the modules (PEFT's _find_dim). */
export function largestShape(modules: TypedModule[]): [number, number] {
  let out = 0;
  let inp = 0;
  for (const m of modules) {
    out = Math.max(out, m.shape[0]);
    inp = Math.max(inp, m.shape[1]);
  }
  return [out, inp];
}

/** The trainer hook keeping shared projections `names` fixed (no update ever reaches them). */
export const projectionTrainer = (...names: string[]): AdapterTrainer =>
  freezingTrainer(names.map((n) => `base_model.${n}`));

/** A shared projection, read as a constant (no gradient flows into it). */
export const frozen = (get: TensorGetter, name: string): np.Array =>
  lax.stopGradient(get(`base_model.${name}`));

/**
 * bias: PEFT's "none" | "all" | "<method>_only" (any "_only" string, as PEFT's tuners_utils
 * checks; LLaMA's projections have no bias, so it has no effect here).
 */
export const biasField = (only: string): FieldSpec => ({
  key: "bias",
  default: "none",
  ok: (v) => v === "none" || v === "all" || (typeof v === "string" && v.endsWith("_only")),
  accepted: `"none", "all" or "${only}"`,
});
