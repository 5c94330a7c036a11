/**
 * Integrity through the CLI (issue 8, item 2): a checkpoint's manifest records each file's size
 * and SHA-256, and every command that loads a checkpoint verifies it first. Eight flipped bytes
 * in any checkpoint file — model weights, optimizer state, trainer state, config or the manifest
 * itself — make `train --resume` refuse with one line naming that file (exit 2), and `generate`
 * and `inspect` likewise. metrics.jsonl: a torn last line (a kill mid-write) is dropped with a
 * warning and the run resumes; a garbage line elsewhere is an error naming the file and line.
 */
import { appendFileSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import {
  type CliResult,
  cliAsync,
  cliOk,
  FAST,
  requireBuild,
  tempDir,
  trainRows,
} from "./run-cli.js";

const COMMON = [...FAST, "--log-every", "1", "--seed", "3"];
const FILES = [
  "model.safetensors",
  "optimizer.safetensors",
  "trainer.json",
  "config.json",
  "manifest.json",
];
let run: string;

beforeAll(() => {
  requireBuild();
  run = tempDir();
  cliOk(["train", ...COMMON, "--steps", "3", "--out", run]);
});

const copy = () => {
  const dir = tempDir();
  cpSync(run, dir, { recursive: true });
  return dir;
};

/** Flip 8 bytes of a file: near the end (a safetensors file's data) or mid-file (JSON). */
function flip(path: string): void {
  const bytes = readFileSync(path);
  const at = path.endsWith(".safetensors") ? bytes.length - 16 : Math.floor(bytes.length / 2);
  for (let i = at; i < at + 8; i++) bytes[i]! ^= 0x01;
  writeFileSync(path, bytes);
}

function expectRefusal(r: CliResult, pattern: RegExp) {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/internal error|^\s+at /m);
}

const named = (dir: string, file: string) =>
  new RegExp(
    `^rankwise: corrupt checkpoint: ${join(dir, "checkpoint", file).replace(/[.]/g, "\\.")} `,
  );

test("8 flipped bytes in any checkpoint file: train --resume names that file", async () => {
  const dirs = FILES.map((file) => {
    const dir = copy();
    flip(join(dir, "checkpoint", file));
    return dir;
  });
  const results = await Promise.all(
    dirs.map((dir) => cliAsync(["train", "--resume", dir, "--steps", "5", "--quiet"])),
  );
  results.forEach((r, i) => {
    expectRefusal(r, named(dirs[i]!, FILES[i]!));
  });
  // Nothing was trained: the refused folders keep their 3 steps.
  for (const dir of dirs) expect(trainRows(dir).map((row) => row.step)).toEqual([1, 2, 3]);
});

test("generate and inspect verify the checkpoint too", async () => {
  const dir = copy();
  flip(join(dir, "checkpoint", "model.safetensors"));
  const results = await Promise.all([
    cliAsync(["generate", dir, "--length", "5"]),
    cliAsync(["inspect", dir]),
  ]);
  for (const r of results) expectRefusal(r, named(dir, "model.safetensors"));
});

test("a torn last metrics line is dropped with a warning, and the run resumes", async () => {
  const dir = copy();
  appendFileSync(join(dir, "metrics.jsonl"), '{"type":"train","step":4,"lo');
  const r = await cliAsync(["train", "--resume", dir, "--steps", "4", "--quiet"]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toContain(`warning: ${join(dir, "metrics.jsonl")}:`);
  expect(r.stderr).toContain("dropped an unfinished last line");
  expect(trainRows(dir).map((row) => row.step)).toEqual([1, 2, 3, 4]);
});

test("a garbage metrics line is an error naming the file and line", async () => {
  const dir = copy();
  const path = join(dir, "metrics.jsonl");
  const lines = readFileSync(path, "utf8").split("\n");
  lines.splice(2, 0, "garbage");
  writeFileSync(path, lines.join("\n"));
  const r = await cliAsync(["train", "--resume", dir, "--steps", "5", "--quiet"]);
  expectRefusal(r, new RegExp(`${path.replace(/[.]/g, "\\.")}:3: not a metrics row`));
});
