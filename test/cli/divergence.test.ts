/**
 * Divergence through the CLI (issue 8, item 1). `train --model tiny --lr 10` goes NaN within a
 * few steps: the bad steps are skipped, after --max-bad-steps in a row the run stops with one line
 * and exit code 3, and its last good checkpoint holds the very bytes of a run stopped just before
 * the first bad step. A run that ends while skipping keeps the last good parameters and optimizer
 * state bit for bit. Every command that loads a model refuses non-finite weights with one line.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { manifestStep, writeManifest } from "../../src/train/manifest.js";
import { type CliResult, cliAsync, FAST, metrics, requireBuild, tempDir } from "./run-cli.js";

const COMMON = [...FAST, "--lr", "10", "--log-every", "1"];
const file = (dir: string, name: string) => readFileSync(join(dir, "checkpoint", name));
const step = (dir: string) => JSON.parse(file(dir, "trainer.json").toString("utf8")).step;

/** The float32 tensors of a safetensors file, decoded in plain JS (an independent reader). */
function tensors(bytes: Buffer): Map<string, Float32Array> {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
  const data = bytes.subarray(8 + headerLength);
  const out = new Map<string, Float32Array>();
  for (const [name, info] of Object.entries<any>(header)) {
    if (name === "__metadata__") continue;
    expect(info.dtype).toBe("F32");
    const [a, b] = info.data_offsets as [number, number];
    out.set(name, new Float32Array(data.buffer.slice(data.byteOffset + a, data.byteOffset + b)));
  }
  return out;
}

function expectOneLine(r: CliResult, code: number, pattern: RegExp) {
  expect(r.status, r.stderr).toBe(code);
  expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

let diverged: { dir: string; r: CliResult; first: number; last: number };

beforeAll(async () => {
  requireBuild();
  const dir = tempDir();
  const r = await cliAsync([
    "train",
    ...COMMON,
    "--steps",
    "60",
    "--checkpoint-every",
    "1",
    "--out",
    dir,
  ]);
  const m = /diverged: steps (\d+)–(\d+) /.exec(r.stderr);
  if (!m) throw new Error(`the run did not diverge (exit ${r.status}):\n${r.stderr}`);
  diverged = { dir, r, first: Number(m[1]), last: Number(m[2]) };
});

test("the run stops after --max-bad-steps skips in a row: one line, exit 3", () => {
  const { r, dir, first, last } = diverged;
  expectOneLine(
    r,
    3,
    /^rankwise: diverged: steps \d+–\d+ all had a non-finite loss, gradient or update \(--max-bad-steps 5\); the last good checkpoint \(step \d+\) is kept in /,
  );
  expect(last - first + 1).toBe(5);
  const rows = metrics(dir);
  // Each skipped step has its own row, logged or not; the run closes with a "diverged" row.
  expect(rows.filter((row) => row.type === "skip").map((row) => row.step)).toEqual(
    Array.from({ length: 5 }, (_, i) => first + i),
  );
  expect(rows.at(-1)).toMatchObject({ type: "diverged", step: last, inARow: 5 });
  expect(rows.some((row) => row.type === "sample")).toBe(false);
});

test("the last good checkpoint is finite and byte-identical to a run that stopped there", async () => {
  const { dir, first, r } = diverged;
  const good = step(dir);
  expect(good).toBe(first - 1); // checkpoints every step, none while skipping
  expect(r.stderr).toContain(`the last good checkpoint (step ${good})`);
  expect(manifestStep(join(dir, "checkpoint"))).toBe(good);
  for (const [name, values] of tensors(file(dir, "model.safetensors"))) {
    expect(values.every(Number.isFinite), name).toBe(true);
  }
  const stopped = tempDir();
  const ended = tempDir();
  const [a, b] = await Promise.all([
    cliAsync(["train", ...COMMON, "--steps", String(good), "--out", stopped]),
    // Two skipped steps at the end (fewer than --max-bad-steps): the run finishes normally.
    cliAsync([
      "train",
      ...COMMON.filter((arg) => arg !== "--quiet"),
      "--steps",
      String(first + 1),
      "--max-bad-steps",
      "3",
      "--out",
      ended,
    ]),
  ]);
  expect(a.status, a.stderr).toBe(0);
  expect(b.status, b.stderr).toBe(0);
  // The start line says what runs; each skip is a line of its own.
  expect(b.stderr.split("\n")[0]).toMatch(
    new RegExp(
      `^training tiny \\([\\d,]+ parameters\\) with adamw at learning rate 10 \\(--lr, constant schedule\\) on moby-dick \\([\\d,]+ train / [\\d,]+ validation tokens\\) in ${ended}$`,
    ),
  );
  expect(b.stderr).toContain(`step ${first}: skipped (`);
  expect(b.stderr).toContain(`step ${first + 1}: skipped (`);
  expect(file(dir, "model.safetensors").equals(file(stopped, "model.safetensors"))).toBe(true);
  // Skipped steps leave parameters and optimizer state exactly as they were.
  expect(step(ended)).toBe(first + 1);
  for (const name of ["model.safetensors", "optimizer.safetensors"]) {
    expect(file(ended, name).equals(file(stopped, name)), name).toBe(true);
  }
});

test("generate, inspect and train --resume refuse non-finite weights with one line", async () => {
  const { dir } = diverged;
  const bad = tempDir();
  cpSync(dir, bad, { recursive: true });
  // NaN into one weight, with a manifest that matches the damaged file (so only the weights
  // check can catch it).
  const ck = join(bad, "checkpoint");
  const weights = readFileSync(join(ck, "model.safetensors"));
  weights.writeUInt32LE(0x7fc00000, weights.length - 4); // the last float of the last tensor
  writeFileSync(join(ck, "model.safetensors"), weights);
  await writeManifest(ck, step(bad), [
    "config.json",
    "model.safetensors",
    "optimizer.safetensors",
    "trainer.json",
  ]);
  const runs = await Promise.all([
    cliAsync(["generate", bad, "--length", "5"]),
    cliAsync(["inspect", bad]),
    cliAsync(["train", "--resume", bad, "--steps", "100", "--quiet"]),
  ]);
  for (const r of runs) {
    expectOneLine(r, 2, /holds non-finite weights \(NaN or infinity\) in "[\w.]+"/);
  }
});
