/**
 * What the adapter-type fixture tests share: the fixture base model, the reference tensors a
 * fixture script wrote beside each folder, a closeness assertion, and the one check every typed
 * folder passes (layer outputs, logits, merge, unmerge against the reference).
 */
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { expect } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { type LlamaParams, llamaForward } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { effectiveParams, loadAnyAdapter, merge, shapesOf, unmerge } from "../../src/peft/index.js";
import { closeness, read } from "./engine.js";

/** The tiny LLaMA folder every PEFT fixture was made on. */
export const FIXTURE_BASE = join(import.meta.dirname, "..", "fixtures", "peft", "base");

/** |actual − expected| ≤ tol·|expected| + tol everywhere (borrows `actual`). */
export function expectClose(actual: np.Array, want: ArrayLike<number>, what: string, tol = 1e-5) {
  const worst = closeness(read(actual), Array.from(want), tol, tol);
  expect({ what, ...worst, ok: worst.ratio <= 1 }).toMatchObject({ what, ok: true });
}

/** The fixture's token rows as an int32 [rows, length] array. */
export const fixtureTokens = (rows: number[][]) =>
  np.array(rows.flat(), { dtype: np.int32 }).reshape([rows.length, -1]);

/** The reference tensors the fixture script wrote beside folder `name`. */
export const referenceTensors = async (dir: string, name: string) =>
  (await loadSafetensors(join(dir, name, "expected.safetensors"))).tensors;

/** A fixture folder and the reference it is checked against. */
export interface FixtureCase {
  dir: string;
  name: string;
  base: LlamaParams;
  config: LlamaConfig;
  tokens: number[][];
  /** Logits per folder name, and the base's under "base". */
  logits: Record<string, number[]>;
}

/**
 * Folder `name` loads; each adapted layer's output (x·W'ᵀ), the adapted model's logits and the
 * merged weights match the reference to 1e-5; the logits differ from the base's; unmerge gives
 * the base back to 1e-4. Borrows `base`.
 */
export async function expectFolderMatchesReference(c: FixtureCase): Promise<void> {
  const { dir, name, base } = c;
  const adapter = await loadAnyAdapter(join(dir, name), shapesOf(base));
  const want = await referenceTensors(dir, name);
  const eff = effectiveParams(tree.ref(base), tree.ref(adapter.params), adapter.plan);
  const modules = adapter.plan.modules.map((m) => m.name);
  expect(modules.sort()).toEqual(
    Object.keys(want)
      .filter((k) => k.startsWith("y."))
      .map((k) => k.slice(2))
      .sort(),
  );
  for (const m of modules) {
    const y = np.matmul(want[`x.${m}`].ref, eff[`${m}.weight`].ref.transpose());
    expectClose(y, read(want[`y.${m}`]), `layer output ${m}`);
    y.dispose();
  }
  const logits = llamaForward(eff, fixtureTokens(c.tokens), c.config);
  expectClose(logits, c.logits[name]!, "logits");
  expect(closeness(read(logits), c.logits.base!, 1e-3, 1e-3).ratio).toBeGreaterThan(1);
  logits.dispose();

  const { params, state } = merge(base, adapter.params, adapter.plan);
  for (const k of Object.keys(want).filter((x) => x.startsWith("merged.")))
    expectClose(params[k.slice(7)]!, read(want[k]!), k);
  const back = unmerge(params, adapter.params, adapter.plan, state);
  for (const k of Object.keys(base)) expectClose(back[k]!, read(base[k]!), `unmerged ${k}`, 1e-4);
  tree.dispose([back, want, adapter.params]);
}
