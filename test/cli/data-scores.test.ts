/**
 * `rankwise data-scores` end to end on a small corpus: the file it writes (format, one score per
 * training window), `train --prune-data` on it with `--reweight` (runs, resumes, refuses a file
 * of other data), and bad input (one line, exit 2).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadCorpus } from "../../src/data/corpus.js";
import { validationStarts } from "../../src/data/sampler.js";
import { splitTokens } from "../../src/data/split.js";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { type CliResult, cli, cliOk, FAST, metrics, requireBuild, tempDir } from "./run-cli.js";

function expectUsageError(r: CliResult, pattern: RegExp): void {
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(r.status, r.stderr).toBe(2);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

let dir: string;
let corpus: string;
let run: string;
const text = loadCorpus("moby-dick").text.slice(0, 3000);

beforeAll(() => {
  requireBuild();
  dir = tempDir();
  corpus = join(dir, "corpus.txt");
  writeFileSync(corpus, text);
  run = join(dir, "run");
  cliOk(["train", ...FAST, "--data", corpus, "--steps", "4", "--out", run]);
});

describe("data-scores", () => {
  test("el2n: one score per training window, the file format documented", () => {
    const out = join(dir, "el2n.json");
    cliOk(["data-scores", run, "--out", out]);
    const file = JSON.parse(readFileSync(out, "utf8"));
    const { train } = splitTokens(CharTokenizer.fromText(text).encode(text), { valFraction: 0.1 });
    expect(file).toMatchObject({
      format: "rankwise-data-scores",
      version: 1,
      method: "el2n",
      step: 4,
      data: corpus,
      seqLen: 16,
      valFraction: 0.1,
      trainTokens: train.length,
    });
    expect(file.starts).toEqual(Array.from(validationStarts(train.length, 16)));
    expect(file.scores).toHaveLength(file.starts.length);
    // EL2N of a distribution against a one-hot lies in [0, √2].
    for (const s of file.scores) expect(s > 0 && s < Math.SQRT2).toBe(true);
  });

  test("grand --json prints a summary; train --prune-data trains on it and resumes", () => {
    const out = join(dir, "grand.json");
    const r = cliOk(["data-scores", run, "--method", "grand", "--out", out, "--json"]);
    const summary = JSON.parse(r.stdout);
    const file = JSON.parse(readFileSync(out, "utf8"));
    expect(summary.method).toBe("grand");
    expect(summary.windows).toBe(file.scores.length);
    expect(summary.max).toBe(Math.max(...file.scores));
    const pruned = join(dir, "pruned");
    cliOk([
      "train",
      ...FAST,
      "--data",
      corpus,
      "--prune-data",
      "0.25",
      "--data-scores",
      out,
      "--reweight",
      "loss-quadratic",
      "--steps",
      "3",
      "--out",
      pruned,
    ]);
    // The saved configuration carries the pruning and the reweighting into the resumed run.
    cliOk(["train", "--steps", "5", "--resume", pruned]);
    const rows = metrics(pruned);
    expect(rows.filter((m) => m.type === "train").at(-1)?.step).toBe(5);
    expect(JSON.stringify(rows)).toContain('"reweight":"loss-quadratic:1"');
    expect(JSON.stringify(rows)).toContain('"pruneData":0.25');
  });
});

describe("bad input: one line, exit 2", () => {
  test.each([
    [["data-scores", "RUN", "--method", "foo"], /--method must be one of el2n, grand; got "foo"/],
    [["data-scores", "RUN", "--data", "moby-dick,sotu"], /--data takes one corpus here/],
    [["data-scores", "RUN", "--seq-len", "1"], /--seq-len must be an integer from 2/],
    [
      ["data-scores", "RUN", "--out", "/nonexistent/s.json"],
      /the folder \/nonexistent does not exist/,
    ],
    [["train", "--reweight", "loss-linear:0"], /--reweight must be one of none, loss-linear\[:r\]/],
    [["train", "--prune-data", "0.5"], /--prune-data needs --data-scores <file>/],
    [
      ["train", "--prune-data", "2", "--data-scores", "x.json"],
      /--prune-data must be a number > 0 and ≤ 1/,
    ],
    [["train", "--data-scores", "x.json"], /--data-scores is only used with --prune-data/],
  ])("%j", (args, pattern) => {
    expectUsageError(cli(args.map((a) => (a === "RUN" ? run : a))), pattern);
  });

  test("a score file of other data or window length is refused", () => {
    const out = join(dir, "el2n-32.json");
    const base = ["train", ...FAST, "--prune-data", "0.5", "--out", join(dir, "never")];
    writeFileSync(out, readFileSync(join(dir, "el2n.json")));
    expectUsageError(
      cli([...base, "--data", corpus, "--seq-len", "8", "--data-scores", out]),
      /computed with --seq-len 16, this run has 8/,
    );
    expectUsageError(
      cli([...base, "--data", "sotu", "--data-scores", out]),
      /computed on other training tokens/,
    );
  });
});
