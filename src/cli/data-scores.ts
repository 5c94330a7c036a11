/**
 * `rankwise data-scores <run|model> --data <corpus> [--method el2n|grand] [--out scores.json]`:
 * score every training window of a corpus with the model as it is (a run a few hundred steps in:
 * "early in training", as the data-diet paper scores), and write the score file that
 * `train --prune-data <fraction> --data-scores <file>` ranks by (train/data-scores.ts has the
 * rule and the file format).
 *
 * The training split and window length are the trainer's: splitTokens with --val-fraction, and
 * non-overlapping windows of --seq-len + 1 tokens at multiples of --seq-len; a run folder's own
 * data, seq-len and val-fraction are the defaults, so its scores fit `train` with the same flags.
 */

import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { stderrProgress } from "../io/hub.js";
import { openModel } from "../nn/open-model.js";
import { readTrainerMeta } from "../train/checkpoint.js";
import { DEFAULT_CONFIG } from "../train/config.js";
import {
  type DataScores,
  SCORE_METHODS,
  type ScoreMethod,
  scoreWindows,
  tokensSha256,
} from "../train/data-scores.js";
import { dataFlag, dataText, modelSplit, numericFlags } from "./corpus-flags.js";

type Flags = Record<string, string | boolean | undefined>;

/** What `data-scores --json` prints: the file's summary. */
export interface DataScoresSummary {
  out: string;
  method: ScoreMethod;
  windows: number;
  mean: number;
  min: number;
  max: number;
}

export async function dataScoresCommand(spec: string, opts: Flags): Promise<void> {
  const method = String(opts.method ?? "el2n") as ScoreMethod;
  if (!SCORE_METHODS.includes(method)) {
    throw new UsageError(
      `--method must be one of ${SCORE_METHODS.join(", ")}; got "${String(opts.method)}"`,
    );
  }
  const flags = numericFlags(opts, ["seqLen", "batchSize", "valFraction"]);
  const run = readTrainerMeta(spec)?.config; // a run folder's settings are the defaults
  const dataName = dataFlag(opts, run);
  if (dataName.includes(",")) {
    throw new UsageError(`--data takes one corpus here, got the mixture "${dataName}"`);
  }
  const text = dataText(dataName);
  const seqLen = flags.seqLen ?? run?.seqLen ?? DEFAULT_CONFIG.seqLen;
  const batchSize = flags.batchSize ?? run?.batchSize ?? DEFAULT_CONFIG.batchSize;
  const valFraction = flags.valFraction ?? run?.valFraction ?? DEFAULT_CONFIG.valFraction;
  const out = String(opts.out ?? "scores.json");
  // Refuse an unwritable --out before the (long) scoring, not after it.
  const folder = dirname(resolve(out));
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`--out ${out}: the folder ${folder} does not exist`);
  }
  if (statSync(out, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`--out ${out} is a folder; give the score file's path (e.g. scores.json)`);
  }

  const opened = await openModel(spec, {
    tokenizer: opts.tokenizer as string | undefined,
    text,
    onProgress: stderrProgress(),
  });
  try {
    const { train } = modelSplit(opened, dataName, text, { seqLen, valFraction });
    if (train.length < seqLen + 1) {
      throw new UsageError(
        `--data ${dataName} is too small for --seq-len ${seqLen}: its training split has ${train.length} tokens`,
      );
    }
    const quiet = Boolean(opts.json);
    let shown = -1;
    if (!quiet) {
      process.stderr.write(
        `scoring the training windows of ${dataName} (${seqLen} tokens each) with ${method} under ${opened.source.path}\n`,
      );
    }
    const { starts, scores } = await scoreWindows(opened.params, opened.config, train, {
      seqLen,
      batchSize,
      method,
      onBatch: (done, total) => {
        // A progress line on a terminal only, redrawn at each percent.
        const percent = Math.floor((100 * done) / total);
        if (quiet || !process.stderr.isTTY || percent === shown) return;
        shown = percent;
        process.stderr.write(`\r${done}/${total} windows (${percent}%)`);
      },
    });
    if (shown >= 0) process.stderr.write("\n");
    const file: DataScores = {
      format: "rankwise-data-scores",
      version: 1,
      method,
      model: opened.source.path,
      ...(opened.trainer ? { step: opened.trainer.step } : {}),
      data: dataName,
      seqLen,
      valFraction,
      trainTokens: train.length,
      trainSha256: tokensSha256(train),
      starts: Array.from(starts),
      scores: Array.from(scores),
    };
    await writeFileAtomic(out, `${JSON.stringify(file)}\n`);
    const values = file.scores;
    const summary: DataScoresSummary = {
      out,
      method,
      windows: values.length,
      mean: values.reduce((a, b) => a + b, 0) / values.length,
      min: values.reduce((a, b) => Math.min(a, b)),
      max: values.reduce((a, b) => Math.max(a, b)),
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `${summary.windows} windows scored (${method}: mean ${summary.mean.toFixed(4)}, min ${summary.min.toFixed(4)}, max ${summary.max.toFixed(4)}) → ${out}\n`,
      );
    }
  } finally {
    tree.dispose(opened.params);
  }
}
