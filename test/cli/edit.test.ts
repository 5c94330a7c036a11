/**
 * `rankwise edit` (built CLI) on a tiny byte-level run, each method once:
 * - pome: the edited ΔW = W − base has exactly k equal singular values, each the mean of ΔW's top
 *   k (recomputed here from the folders); other weights are the tuned model's;
 * - inlp: the stored projection is an orthogonal projector; a fresh probe on the edited model's
 *   hidden states is at chance, while one on the original's is not; --fold leaves the stream
 *   after the block without any component along the removed directions;
 * - dama: the contrastive pairs' down_proj output gap at the edited block shrinks to what the
 *   record says;
 * - unlearn: `eval` shows the forget text's loss rising by more than the retain text's changes;
 * - bad input: one line, exit 2, no folder left.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { ByteTokenizer } from "../../src/data/tokenizer.js";
import * as tree from "../../src/engine/tree.js";
import { svd } from "../../src/linalg/index.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { pooledStates } from "../../src/weights/edit/hidden.js";
import { linearProbe } from "../../src/weights/edit/inlp.js";
import { read, setup } from "../helpers/engine.js";
import { cli, cliAsync, cliOk, FAST, requireBuild, tempDir } from "./run-cli.js";

let dir: string;
let base: string;
let tuned: string;
let concept: string;
let pairs: string;

const words = ["the whale", "the sea", "a ship", "harpoon", "THE TAX", "CONGRESS", "jobs"];

beforeAll(async () => {
  requireBuild();
  await setup();
  dir = tempDir();
  const run = join(dir, "run");
  cliOk(["train", ...FAST, "--tokenizer", "byte", "--steps", "10", "--seed", "4", "--out", run]);
  base = join(run, "checkpoint");
  const ft = join(dir, "ft");
  cliOk(
    ["finetune", "--model", run, "--adapter", "lora", "--steps", "4", "--seq-len", "16"].concat([
      "--batch-size",
      "2",
      "--data",
      "sotu",
      "--quiet",
      "--out",
      ft,
    ]),
  );
  tuned = join(dir, "tuned");
  cliOk(["adapter", "merge", "--model", run, "--adapter", join(ft, "adapter"), "--out", tuned]);
  // A concept carried by the last character: "!" (label 1) or "?" (label 0).
  concept = join(dir, "concept.jsonl");
  const lines: string[] = [];
  for (let i = 0; i < 80; i++) {
    // Texts 2k and 2k + 1 share their words: only the last character tells the label.
    const k = i >> 1;
    const text = [0, 1, 2].map((j) => words[(k * 5 + j * 3 + (k >> 2)) % words.length]).join(" ");
    lines.push(JSON.stringify({ text: `${text}${i % 2 ? "!" : "?"}`, label: i % 2 }));
  }
  writeFileSync(concept, `${lines.join("\n")}\n`);
  pairs = join(dir, "pairs.jsonl");
  const pairList = [
    ["he said", "she said"],
    ["his ship", "her ship"],
    ["the man", "the woman"],
    ["he was", "she was"],
    ["him", "her"],
  ];
  writeFileSync(pairs, pairList.map(([a, b]) => JSON.stringify({ a, b })).join("\n"));
}, 120_000);

const load = async (path: string) => {
  const m = await loadModel(path);
  return { config: m.config as LlamaConfig, params: m.params };
};

describe("edit", () => {
  test("pome: k equal singular values of ΔW, the mean of its top k", async () => {
    const out = join(dir, "pome");
    const r = cliOk(
      [
        "edit",
        "pome",
        "--base",
        base,
        "--tuned",
        tuned,
        "--modules",
        "v_proj",
        "--rank",
        "2",
      ].concat(["--out", out, "--json"]),
    );
    const record = JSON.parse(r.stdout);
    expect(record.method).toBe("pome");
    expect(Object.keys(record.edited)).toEqual([
      "model.layers.0.self_attn.v_proj.weight",
      "model.layers.1.self_attn.v_proj.weight",
    ]);
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "edit.json"]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const [b, t, e] = [await load(base), await load(tuned), await load(out)];
    for (const name of Object.keys(t.params)) {
      if (!/v_proj/.test(name)) {
        expect(read(e.params[name]), name).toEqual(read(t.params[name]));
        continue;
      }
      const s = read(svd(t.params[name].ref.sub(b.params[name].ref)).s);
      const mean = (s[0] + s[1]) / 2;
      const se = read(svd(e.params[name].ref.sub(b.params[name].ref)).s);
      expect(se[0]).toBeCloseTo(mean, 5);
      expect(se[1]).toBeCloseTo(mean, 5);
      for (const x of se.slice(2)) expect(x).toBeLessThan(1e-5 * mean);
      expect(record.edited[name].level).toBeCloseTo(mean, 5);
    }
    tree.dispose([b.params, t.params, e.params]);
  });

  test("inlp: a projector after which a fresh probe is at chance", async () => {
    const out = join(dir, "inlp");
    const r = cliOk(
      ["edit", "inlp", "--model", base, "--data", concept, "--layer", "0", "--pool", "last"].concat(
        ["--iterations", "16", "--out", out, "--json"],
      ),
    );
    const record = JSON.parse(r.stdout);
    expect(record).toMatchObject({
      method: "inlp",
      layer: 0,
      applied: "model.layers.0.inlp_projection",
    });
    expect(record.removed).toBeGreaterThan(0);
    expect(record.removed).toBeLessThan(16);
    const texts = readFileSync(concept, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { text: string; label: number });
    const bytes = new ByteTokenizer();
    const ids = texts.map((t) => bytes.encode(t.text));
    const labels = Int32Array.from(texts, (t) => t.label);
    const opts = { layer: 0, pool: "last" as const, at: "residual" as const };

    const before = await load(base);
    const d = before.config.hidden_size;
    const probeBefore = linearProbe(
      pooledStates(before.params, before.config, ids, opts),
      labels,
      d,
      2,
    );
    expect(probeBefore.accuracy).toBeGreaterThan(0.9);
    const after = await load(out);
    const p = read(after.params["model.layers.0.inlp_projection"]);
    let trace = 0;
    for (let i = 0; i < d; i++) {
      trace += p[i * d + i];
      for (let j = 0; j < d; j++) {
        let pp = 0;
        for (let k = 0; k < d; k++) pp += p[i * d + k] * p[k * d + j];
        expect(pp).toBeCloseTo(p[i * d + j], 5);
        expect(p[i * d + j]).toBeCloseTo(p[j * d + i], 6);
      }
    }
    expect(trace).toBeCloseTo(d - record.removed, 4);
    const probeAfter = linearProbe(
      pooledStates(after.params, after.config, ids, opts),
      labels,
      d,
      2,
    );
    // At chance: within two standard errors (n = 80, m = 0.5: 0.112) of the majority share.
    expect(probeAfter.accuracy).toBeLessThanOrEqual(probeAfter.majority + 0.112);

    // --fold: no projection tensor; the stream after block 0 is fixed by P (no component along B).
    const folded = join(dir, "inlp-fold");
    cliOk(
      ["edit", "inlp", "--model", base, "--data", concept, "--layer", "0", "--pool", "last"].concat(
        ["--iterations", "16", "--fold", "--out", folded],
      ),
    );
    const f = await load(folded);
    expect(f.params["model.layers.0.inlp_projection"]).toBeUndefined();
    expect(f.config.tie_word_embeddings).toBe(false);
    const xs = pooledStates(f.params, f.config, ids.slice(0, 8), { ...opts, pool: "mean" });
    for (let row = 0; row < 8; row++) {
      const x = xs.subarray(row * d, (row + 1) * d);
      const px = Array.from({ length: d }, (_, i) =>
        x.reduce((s, v, k) => s + p[i * d + k] * v, 0),
      );
      const scale = Math.max(...x.map(Math.abs));
      for (let i = 0; i < d; i++) expect(Math.abs(px[i] - x[i])).toBeLessThan(1e-4 * scale);
    }
    tree.dispose([before.params, after.params, f.params]);
    const ev = JSON.parse(
      cliOk([
        "eval",
        out,
        "--data",
        "moby-dick",
        "--seq-len",
        "16",
        "--eval-batches",
        "2",
        "--json",
      ]).stdout,
    );
    expect(Number.isFinite(ev.loss)).toBe(true);
    // llama.cpp has no such layer: GGUF export refuses the stored form in one line.
    const gguf = cli(["export", out, "--format", "gguf", "--out", join(dir, "inlp.gguf")]);
    expect(gguf.status).toBe(2);
    expect(gguf.stderr).toMatch(/holds model\.layers\.0\.inlp_projection .* --fold/);
  });

  test("dama: the pairs' down_proj gap at the edited block shrinks", async () => {
    const out = join(dir, "dama");
    const record = JSON.parse(
      cliOk(["edit", "dama", "--model", base, "--pairs", pairs, "--out", out, "--json"]).stdout,
    );
    expect(Object.keys(record.layers)).toEqual(["1"]); // the mid-upper block of 2
    const bytes = new ByteTokenizer();
    const rows = readFileSync(pairs, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { a: string; b: string });
    const gap = (m: { config: LlamaConfig; params: Record<string, np.Array> }) => {
      const opts = { layer: 1, pool: "last" as const, at: "down_proj" as const };
      const a = pooledStates(
        m.params,
        m.config,
        rows.map((r) => bytes.encode(r.a)),
        opts,
      );
      const b = pooledStates(
        m.params,
        m.config,
        rows.map((r) => bytes.encode(r.b)),
        opts,
      );
      return Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));
    };
    const [before, after] = [await load(base), await load(out)];
    const g0 = gap(before);
    const g1 = gap(after);
    expect(g0).toBeCloseTo(record.layers["1"].gapBefore, 5);
    expect(g1).toBeCloseTo(record.layers["1"].gapAfter, 5);
    expect(g1).toBeLessThan(0.8 * g0);
    tree.dispose([before.params, after.params]);
  });

  test("unlearn: eval shows the forget loss rising more than the retain loss moves", async () => {
    const forget = join(dir, "forget.txt");
    const digits = Array.from({ length: 800 }, (_, i) => String((i * 7919) % 99991)).join(" ");
    writeFileSync(forget, digits);
    const out = join(dir, "gu");
    cliOk(
      ["edit", "unlearn", "--model", base, "--forget", forget, "--retain", "moby-dick"].concat([
        "--seq-len",
        "16",
        "--steps",
        "10",
        "--lr",
        "0.05",
        "--out",
        out,
      ]),
    );
    const evals = await Promise.all(
      [base, out].flatMap((m) =>
        [forget, "moby-dick"].map((data) =>
          cliAsync(["eval", m, "--data", data, "--seq-len", "16", "--eval-batches", "4", "--json"]),
        ),
      ),
    );
    const [f0, r0, f1, r1] = evals.map((e) => {
      expect(e.status, e.stderr).toBe(0);
      return JSON.parse(e.stdout).loss as number;
    });
    expect(f1 - f0).toBeGreaterThan(0.1);
    expect(f1 - f0).toBeGreaterThan(Math.abs(r1 - r0));
  });

  test("bad input: one line, exit 2, no folder left", async () => {
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, '{"text": "a", "label": 1}\nnot json\n');
    const one = join(dir, "one.jsonl");
    writeFileSync(one, Array.from({ length: 12 }, () => '{"text": "a", "label": 1}').join("\n"));
    const cases: [string[], RegExp][] = [
      [["edit", "pome", "--tuned", tuned], /--base is required/],
      [
        ["edit", "pome", "--base", base, "--tuned", tuned, "--rank", "2", "--energy", "0.5"],
        /exclude each other/,
      ],
      [
        ["edit", "pome", "--base", base, "--tuned", tuned, "--norm", "max"],
        /--norm must be one of mean, frobenius, spectral/,
      ],
      [
        ["edit", "pome", "--base", base, "--tuned", tuned, "--modules", "nothing"],
        /--modules nothing matches no 2-D weight/,
      ],
      [
        ["edit", "inlp", "--model", base, "--data", concept, "--layer", "5"],
        /--layer must be in \[0, 1\]/,
      ],
      [["edit", "inlp", "--model", base, "--data", bad, "--layer", "0"], /line 2 is not JSON/],
      [["edit", "inlp", "--model", base, "--data", one, "--layer", "0"], /has one label/],
      [["edit", "dama", "--model", base, "--pairs", concept], /"a" must be a non-empty string/],
      [
        ["edit", "dama", "--model", base, "--pairs", pairs, "--layers", "7"],
        /--layers must list blocks in \[0, 1\]/,
      ],
      [
        ["edit", "unlearn", "--model", base, "--forget", "nope-corpus", "--retain", "moby-dick"],
        /--forget: unknown corpus/,
      ],
      [
        [
          "edit",
          "unlearn",
          "--model",
          base,
          "--forget",
          "moby-dick",
          "--retain",
          "sotu",
          "--seq-len",
          "999",
        ],
        /--seq-len 999 is longer/,
      ],
    ];
    // Independent invocations, side by side; each writes (or must not write) its own folder.
    const results = await Promise.all(
      cases.map(([args], i) => cliAsync([...args, "--out", join(dir, `bad-out-${i}`)])),
    );
    results.forEach((r, i) => {
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect(r.status, r.stderr).toBe(2);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(cases[i][1]);
      expect(existsSync(join(dir, `bad-out-${i}`))).toBe(false);
    });
    expect(cli(["edit", "dama", "--model", base, "--pairs", pairs]).stderr).toMatch(
      /--out is required/,
    );
    const taken = cli(["edit", "dama", "--model", base, "--pairs", pairs, "--out", base]);
    expect(taken.status).toBe(2);
    expect(taken.stderr).toMatch(/--out .* is not an empty folder/);
  });
});
