/**
 * Checkpoints are replaced whole: a save that fails half-way leaves the previous checkpoint
 * loadable and byte-identical, a save cut between its two renames (a crash) is completed on the
 * next look, and a save/load round trip gives back the same numbers.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import {
  type Checkpoint,
  checkpointPath,
  hasCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { train } from "../../src/train/trainer.js";
import { read, setup } from "../helpers/engine.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-ckpt-"));

/** Every file of a folder with its bytes. */
function files(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name))]));
}

let run: string; // a 3-step run with its checkpoint

beforeAll(async () => {
  await setup();
  run = tempDir();
  const config = validateConfig({
    model: "tiny",
    seqLen: 16,
    batchSize: 4,
    steps: 3,
    sampleLength: 0,
    seed: 2,
    warmup: 0,
  });
  await train({ config, out: run, quiet: true });
});

/** A copy of the run, so tests don't disturb each other. */
function copyOfRun(): string {
  const dir = tempDir();
  cpSync(run, dir, { recursive: true });
  return dir;
}

const dispose = (ck: Checkpoint) => {
  tree.dispose(ck.params);
  tree.dispose(ck.optState);
};

describe("saveCheckpoint", () => {
  test("a save that fails half-way leaves the old checkpoint as it was", async () => {
    const dir = copyOfRun();
    const before = files(checkpointPath(dir));
    const ck = await loadCheckpoint(dir);
    // The model is written first, then the optimizer state, whose unsupported leaf throws.
    const bad = { ...ck, meta: { ...ck.meta, step: 99 }, optState: { when: new Date() } as any };
    await expect(saveCheckpoint(dir, bad)).rejects.toThrow(/tree leaf "when" is Date/);
    dispose(ck);

    expect(files(checkpointPath(dir))).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(["checkpoint", "metrics.jsonl", "report.html"]);
    const again = await loadCheckpoint(dir);
    expect(again.meta.step).toBe(3);
    dispose(again);
  });

  test("a checkpoint with non-finite weights is refused, and the old one stays", async () => {
    const dir = copyOfRun();
    const before = files(checkpointPath(dir));
    const ck = await loadCheckpoint(dir);
    const name = "model.layers.0.mlp.up_proj.weight";
    const poisoned = { ...ck.params, [name]: ck.params[name]!.ref.mul(Number.POSITIVE_INFINITY) };
    await expect(saveCheckpoint(dir, { ...ck, params: poisoned })).rejects.toThrow(
      `refusing to write a checkpoint with non-finite weights (NaN or infinity) in "${name}"`,
    );
    poisoned[name]!.dispose();
    dispose(ck);
    expect(files(checkpointPath(dir))).toEqual(before);
  });

  test("a successful save replaces the folder whole and round-trips exactly", async () => {
    const dir = copyOfRun();
    writeFileSync(join(checkpointPath(dir), "stale.txt"), "from an older save");
    const ck = await loadCheckpoint(dir);
    const values = (t: tree.Tree<any>) =>
      (tree.leaves(t) as unknown[]).map((x) => (tree.isArray(x) ? read(x) : x));
    const expectedParams = values(ck.params);
    const expectedOpt = values(ck.optState);
    const optPaths = tree.paths(ck.optState);
    await saveCheckpoint(dir, { ...ck, meta: { ...ck.meta, step: 7 } });
    dispose(ck);

    expect(readdirSync(checkpointPath(dir)).sort()).toEqual([
      "config.json",
      "manifest.json",
      "model.safetensors",
      "optimizer.safetensors",
      "tokenizer.json",
      "trainer.json",
    ]);
    expect(readdirSync(dir).sort()).toEqual(["checkpoint", "metrics.jsonl", "report.html"]);
    const back = await loadCheckpoint(dir);
    expect(back.meta.step).toBe(7);
    expect(values(back.params)).toEqual(expectedParams);
    expect(tree.paths(back.optState)).toEqual(optPaths);
    expect(values(back.optState)).toEqual(expectedOpt);
    dispose(back);
  });
});

describe("a crash between the two renames of a save", () => {
  /** Leave `dir` as a crash after `rename(checkpoint → .old)` but before `rename(.tmp → ...)`. */
  async function crashMidSwap(dir: string, newStep: number): Promise<void> {
    const ck = await loadCheckpoint(dir);
    const elsewhere = tempDir();
    await saveCheckpoint(elsewhere, { ...ck, meta: { ...ck.meta, step: newStep } });
    dispose(ck);
    renameSync(checkpointPath(dir), join(dir, "checkpoint.old-4242"));
    renameSync(checkpointPath(elsewhere), join(dir, "checkpoint.tmp-4242"));
  }

  test("the completed new checkpoint is put in place", async () => {
    const dir = copyOfRun();
    await crashMidSwap(dir, 5);
    // A third, unfinished save (no manifest yet) must not be taken.
    mkdirSync(join(dir, "checkpoint.tmp-999"));
    writeFileSync(join(dir, "checkpoint.tmp-999", "config.json"), "{}");
    expect(existsSync(checkpointPath(dir))).toBe(false);
    expect(hasCheckpoint(dir)).toBe(true);
    const ck = await loadCheckpoint(dir);
    expect(ck.meta.step).toBe(5);
    dispose(ck);
  });

  test("with only the old checkpoint left, the old one is put back", async () => {
    const dir = copyOfRun();
    await crashMidSwap(dir, 5);
    rmSync(join(dir, "checkpoint.tmp-4242"), { recursive: true });
    const ck = await loadCheckpoint(dir);
    expect(ck.meta.step).toBe(3);
    dispose(ck);
  });

  test("a folder with no checkpoint at all still says so", async () => {
    const dir = tempDir();
    expect(hasCheckpoint(dir)).toBe(false);
    await expect(loadCheckpoint(dir)).rejects.toThrow(/no checkpoint in/);
  });
});
