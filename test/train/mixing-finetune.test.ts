/**
 * Domain mixing in `finetune` (an adapter over a frozen base): a DGA mixture trains and logs its
 * weights; ODM (and DoReMi, by the same check), which read the whole model's per-row losses, is
 * refused in one line naming the rules that work.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import { finetune } from "../../src/train/finetune.js";
import { validateFinetuneConfig } from "../../src/train/finetune-config.js";
import { setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyBase } from "../helpers/tiny-base.js";

let baseDir: string;
let data: string;

beforeAll(async () => {
  await setup();
  const dir = mkdtempSync(join(tmpdir(), "rankwise-mixing-ft-"));
  const made = await writeTinyBase(dir);
  baseDir = made.baseDir;
  // Two domains from the base's own corpus, so its character vocabulary covers both.
  const text = readFileSync(made.corpus, "utf8");
  const a = join(dir, "a.txt");
  const b = join(dir, "b.txt");
  writeFileSync(a, text.slice(0, 2000));
  writeFileSync(b, text.slice(2000));
  data = `${a},${b}`;
});

const config = (mixing: Record<string, unknown>) =>
  validateFinetuneConfig({
    model: baseDir,
    data,
    adapter: "lora",
    rank: 2,
    lr: 0.01,
    ...TINY_RUN,
    steps: 2,
    ...mixing,
  });

test("a dga mixture fine-tunes an adapter and logs its weights", async () => {
  const out = mkdtempSync(join(tmpdir(), "rankwise-mixing-ft-run-"));
  const target = data.split(",")[1]!;
  await finetune({
    config: config({ mixing: "dga", mixingTarget: target, mixingEvery: 1 }),
    out,
    quiet: true,
  });
  const rows = readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const train = rows.filter((r) => r.type === "train");
  expect(train).toHaveLength(2);
  for (const r of train) {
    const w = Object.values(r.domainWeights) as number[];
    expect(Math.abs(w[0]! + w[1]! - 1)).toBeLessThan(1e-12);
  }
  expect(Object.keys(rows.find((r) => r.type === "eval" && !r.base).valLossByDomain)).toHaveLength(
    2,
  );
});

test("a domain the base's tokenizer cannot encode is named in one line", async () => {
  const odd = join(mkdtempSync(join(tmpdir(), "rankwise-mixing-ft-")), "odd.txt");
  writeFileSync(odd, "100% {braces} and ~tildes~ ".repeat(40));
  const out = mkdtempSync(join(tmpdir(), "rankwise-mixing-ft-run-"));
  const cfg = { ...config({}), data: `${data.split(",")[0]},${odd}` };
  await expect(finetune({ config: cfg, out, quiet: true })).rejects.toThrow(
    new RegExp(
      `corpus ${odd} has text the base model's tokenizer cannot encode: .*--tokenizer byte`,
    ),
  );
});

test("odm is refused in one line (doremi too, by the same check)", async () => {
  const out = mkdtempSync(join(tmpdir(), "rankwise-mixing-ft-run-"));
  const run = finetune({ config: config({ mixing: "odm" }), out, quiet: true });
  await expect(run).rejects.toThrow(UsageError);
  await expect(run).rejects.toThrow(
    "--mixing odm is not available to finetune (it reads the model's per-row losses); use uniform, fixed:w1,w2,… or dga",
  );
});
