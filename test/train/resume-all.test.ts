/**
 * Exact resume for every registered optimizer (issue 9, item 2), through `train()` as the CLI
 * runs it: a run of 4 steps checkpoints at step 2; that checkpoint folder is copied aside (when
 * step 3 starts) and resumed from there to step 4. The final weights and the optimizer state must
 * be the same bits as the uninterrupted run's. Options that set a refresh period (projections,
 * preconditioners, momentum resets, block switches, layer draws, …) are set short (see SHORT), so
 * that a refresh falls after the resume point whatever the method's step convention.
 *
 * The cause of the drift novograd and stable-spam had (their per-tensor scalar states are 0-d
 * arrays): jax-js builds a small all-equal array read from a file as an inline constant, and
 * folds arithmetic on constants in float64, so `v·β2` rounded differently from the same `v` on
 * the device (src/engine/device-buffer.ts). The first test pins that down on its own.
 */
import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { decodeTree, encodeTree } from "../../src/io/state-file.js";
import type { LlamaParams } from "../../src/nn/llama.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { getOptimizer, optimizerNames } from "../../src/train/registry.js";
import { train } from "../../src/train/trainer.js";
import { setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyCorpus } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-resume-all-"));

/**
 * Short periods, applied where an optimizer has the option, so that a period boundary falls
 * after the resume point (steps 3–4; "t" below is the optimizer's own step index):
 * projections and preconditioners (updateProjGap, precondFrequency: t = 2 with a 0-based t, 4
 * with a 1-based one), momentum resets and SPAM's masks redrawn with them (resetInterval, density
 * < 1; clipDelay 1 clips at t = 3), BAdam's block switch after t = 3 (switchBlockEvery), LISA's
 * layer draw at t = 2 (intervalSteps), AdaFisher's factors at t = 2 (tCov), COAP's correlation
 * step at t = 1, 3 and its re-fit at t = 2 (updateInterval 1, reprojectFactor 2), M-FAC's ring of
 * 2 gradients wrapping at step 3 (ngrads), GradES's count of small steps reaching patience 2 at
 * step 3 (gracePeriod 1, threshold above any gradient norm). Also: rank 4 fits the tiny model's
 * 16-wide matrices; queueSize 1 lets Q-GaLore's adaptive gap act within the run; 8-bit GaLore's
 * codec and Q-GaLore's INT8 weights are switched on (minQuantizedSize 0, weightBits 8); SST draws
 * new singular vectors every 2 steps and re-factors after each draw (iterationSteps 2,
 * roundIterations 1).
 */
const SHORT: Record<string, unknown> = {
  updateProjGap: 2,
  precondFrequency: 2,
  resetInterval: 2,
  density: 0.5,
  clipDelay: 1,
  switchBlockEvery: 2,
  intervalSteps: 2,
  tCov: 2,
  updateInterval: 1,
  reprojectFactor: 2,
  ngrads: 2,
  patience: 2,
  gracePeriod: 1,
  threshold: 1e9,
  rank: 4,
  queueSize: 1,
  minQuantizedSize: 0,
  weightBits: 8,
  iterationSteps: 2,
  roundIterations: 1,
};

let corpus: string;

beforeAll(async () => {
  await setup();
  corpus = writeTinyCorpus(tempDir()).corpus;
});

const BASE = { model: "tiny", ...TINY_RUN, seed: 3 };

interface Leaf {
  kind: string;
  bytes: Uint8Array;
  values: ArrayLike<number>;
}

/** Every leaf by tree path: an array's dtype, shape, bytes and values, or a plain JSON value. */
function snapshot(t: tree.Tree<any>): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  tree.walk(t, (leaf, path) => {
    if (!tree.isArray(leaf)) {
      out.set(path, { kind: JSON.stringify(leaf), bytes: new Uint8Array(), values: [] });
      return;
    }
    const values = leaf.ref.dataSync() as unknown as ArrayBufferView & ArrayLike<number>;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    out.set(path, { kind: `${leaf.dtype}[${leaf.shape}]`, bytes, values });
  });
  return out;
}

/** "" when the two leaves are the same bits, else where and by how much they differ. */
function difference(a: Leaf, b: Leaf | undefined): string {
  if (b === undefined) return "missing after resume";
  if (a.kind !== b.kind) return `${b.kind} after resume, ${a.kind} without`;
  if (Buffer.compare(a.bytes, b.bytes) === 0) return "";
  let worst = 0;
  let at = 0;
  for (let i = 0; i < a.values.length; i++) {
    const d = Math.abs(Number(a.values[i]) - Number(b.values[i]));
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  return `element ${at}: ${b.values[at]} after resume, ${a.values[at]} without (|Δ| ${worst})`;
}

async function finalState(out: string) {
  const ck = await loadCheckpoint(out);
  try {
    return { step: ck.meta.step, params: snapshot(ck.params), state: snapshot(ck.optState) };
  } finally {
    tree.dispose([ck.params, ck.optState]);
  }
}

test("a scalar read back from a state file computes like the device array it was saved from", () => {
  const beta = 0.98; // not a float32: a float64 fold and a float32 multiply round differently
  const g = np.array(new Float32Array([0.3, -1.7, 2.9]));
  let differ = 0;
  for (let i = 1; i <= 64; i++) {
    const v = g.ref.mul(i / 9).sum(); // a 0-d device array, as an optimizer computes it
    const { tree: loaded } = decodeTree(encodeTree({ v: v.ref }));
    const step = (x: np.Array) => x.mul(beta).add(g.ref.sum().mul(1 - beta));
    const [a, b] = [step(v), step((loaded as { v: np.Array }).v)].map((x) => x.dataSync()[0]);
    if (!Object.is(a, b)) differ++;
  }
  g.dispose();
  expect(differ).toBe(0);
});

test("every period option of a registered optimizer is shortened; every short option exists", () => {
  const PERIOD =
    /(Every|Interval|Gap|Frequency)$|^(intervalSteps|tCov|iterationSteps|roundIterations)$/;
  const options = optimizerNames().flatMap((name) => getOptimizer(name).options.map((o) => o.name));
  expect([...new Set(options.filter((o) => PERIOD.test(o) && !(o in SHORT)))]).toEqual([]);
  expect(Object.keys(SHORT).filter((o) => !options.includes(o))).toEqual([]);
});

test.each(optimizerNames())(
  "%s: resumed at step 2 = 4 steps straight, bit for bit",
  async (name) => {
    const entry = getOptimizer(name);
    const optimizerOptions = Object.fromEntries(
      entry.options.filter((o) => o.name in SHORT).map((o) => [o.name, SHORT[o.name]]),
    );
    const config = (steps: number) =>
      validateConfig({ ...BASE, data: corpus, optimizer: name, optimizerOptions, steps });

    const whole = tempDir();
    const split = tempDir();
    let copied = false;
    // Called before each step's update: at step 3, the checkpoint of step 2 is complete.
    const copyCheckpoint = (grads: LlamaParams, step: number) => {
      if (step === 3) {
        cpSync(join(whole, "checkpoint"), join(split, "checkpoint"), { recursive: true });
        cpSync(join(whole, "metrics.jsonl"), join(split, "metrics.jsonl"));
        copied = true;
      }
      return grads;
    };
    const every2 = { ...config(4), checkpointEvery: 2 };
    await train({ config: every2, out: whole, quiet: true, gradientHook: copyCheckpoint });
    expect(copied).toBe(true);
    const saved = JSON.parse(readFileSync(join(split, "checkpoint", "trainer.json"), "utf8"));
    expect(saved.step).toBe(2);
    await train({ config: config(4), out: split, quiet: true, resume: true });

    const a = await finalState(whole);
    const b = await finalState(split);
    expect(b.step).toBe(4);
    expect([...b.params.keys()]).toEqual([...a.params.keys()]);
    expect([...b.state.keys()]).toEqual([...a.state.keys()]);
    const differ = (what: string, x: Map<string, Leaf>, y: Map<string, Leaf>) =>
      [...x].map(([path, leaf]) => [`${what} ${path}`, difference(leaf, y.get(path))]);
    const diffs = [...differ("weight", a.params, b.params), ...differ("state", a.state, b.state)];
    expect(Object.fromEntries(diffs.filter(([, d]) => d !== ""))).toEqual({});
  },
);
