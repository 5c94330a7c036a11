/**
 * `compare --resume` (issue 8, item 7): a comparison interrupted with Ctrl-C during its second run
 * continues where it stopped — the finished run is kept byte for byte, the interrupted one
 * resumes from its checkpoint, the last one starts — and ends with the same weights, bit for bit,
 * as the same comparison run without interruption.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { cliOk, cliSpawn, FAST, requireBuild, snapshot, tempDir } from "./run-cli.js";

const ARGS = [
  ...FAST.filter((a) => a !== "--quiet"),
  "--steps",
  "30",
  "--checkpoint-every",
  "5",
  "--log-every",
  "1",
  "--optimizers",
  "adamw",
  "lion",
  "sgd",
];

const weights = (dir: string, run: string) =>
  readFileSync(join(dir, run, "checkpoint", "model.safetensors"));

beforeAll(requireBuild);

test("an interrupted comparison resumes to the uninterrupted result", async () => {
  const whole = tempDir();
  cliOk(["compare", ...ARGS, "--out", whole]);

  const cut = tempDir();
  const child = cliSpawn(["compare", ...ARGS, "--out", cut]);
  let stderr = "";
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  const status = await new Promise<number | null>((done) => {
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      // Interrupt lion a few steps in (after its first logged step, before its last).
      const lion = stderr.indexOf("== lion");
      if (lion >= 0 && /step 3\//.test(stderr.slice(lion)) && !child.killed) child.kill("SIGINT");
    });
    child.on("close", done);
  });
  expect(status, stderr).toBe(130);
  expect(stdout).toContain(`interrupted; continue with: rankwise compare --resume ${cut}`);
  const adamwBefore = snapshot(join(cut, "adamw"));
  const lionStep = JSON.parse(
    readFileSync(join(cut, "lion", "checkpoint", "trainer.json"), "utf8"),
  ).step;
  expect(lionStep).toBeGreaterThan(0);
  expect(lionStep).toBeLessThan(30);

  const resumed = cliOk(["compare", "--resume", cut, "--quiet"]);
  expect(resumed.stderr).toContain("== adamw: finished");
  expect(resumed.stderr).toContain(`(resuming at step ${lionStep})`);
  expect(snapshot(join(cut, "adamw"))).toEqual(adamwBefore);
  for (const run of ["adamw", "lion", "sgd"]) {
    expect(weights(cut, run).equals(weights(whole, run)), run).toBe(true);
  }
  // The summary table lists all three, like the uninterrupted one.
  const table = (text: string) => text.split("\n").filter((l) => /^(adamw|lion|sgd) \|/.test(l));
  expect(table(resumed.stdout).map((l) => l.split(" | ").slice(0, 3))).toEqual(
    table(cliOk(["compare", "--resume", whole, "--quiet"]).stdout).map((l) =>
      l.split(" | ").slice(0, 3),
    ),
  );
});
