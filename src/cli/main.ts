/**
 * The `rankwise` command line: a thin layer over the library (train, compare, generate, inspect,
 * optimizers). Bad input: one line and exit code 2 (see errors.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { UsageError } from "../engine/errors.js";
import { init } from "../engine/init.js";
import { checkOutputDir } from "../io/output-dir.js";
import { DEFAULT_CONFIG, type TrainConfig } from "../train/config.js";
import {
  adapterCombineCommand,
  adapterConvertCommand,
  adapterInspectCommand,
  adapterMergeCommand,
} from "./adapter.js";
import { alignCommand } from "./align.js";
import { compareCommand } from "./compare.js";
import { compressCommand } from "./compress.js";
import { dataScoresCommand } from "./data-scores.js";
import { editDamaCommand, editInlpCommand, editPomeCommand, editUnlearnCommand } from "./edit.js";
import { action, reportError } from "./errors.js";
import { evalCommand } from "./eval.js";
import { exportCommand } from "./export.js";
import { addFinetuneFlags, finetuneCommand } from "./finetune.js";
import { generateCommand, MAX_LENGTH } from "./generate.js";
import { inspectCommand } from "./inspect.js";
import { mergeCommand } from "./merge.js";
import { optimizersCommand } from "./optimizers.js";
import { playgroundCommand } from "./playground.js";
import { pruneCommand } from "./prune.js";
import { quantizeCommand } from "./quantize.js";
import { trainCommand } from "./train.js";
import { addTrainFlags } from "./train-flags.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/**
 * Checks on the folders a command will write, before anything runs: an unusable --out is one line
 * within milliseconds (never a hang), and `--resume` is given the run folder it continues.
 */
function checkFolders(command: Command): void {
  const opts = command.opts() as { out?: string; resume?: string };
  if (opts.resume !== undefined) {
    if (opts.out !== undefined && resolve(opts.out) !== resolve(opts.resume)) {
      throw new UsageError(
        `--out ${opts.out} and --resume ${opts.resume} differ: a resumed run continues in its own folder (drop --out)`,
      );
    }
    if (
      basename(resolve(opts.resume)) === "checkpoint" &&
      existsSync(join(opts.resume, "trainer.json"))
    ) {
      throw new UsageError(
        `--resume takes the run folder, not its checkpoint: use --resume ${dirname(resolve(opts.resume))}`,
      );
    }
    return;
  }
  if (opts.out !== undefined) checkOutputDir(String(opts.out));
}

/**
 * Append "(default: …)" to each option's help, read from the one place defaults live
 * (DEFAULT_CONFIG). Not commander's own defaults: those would fill in every flag, and the
 * commands need to know which flags the user actually gave (flags override --config files).
 */
function showDefaults(cmd: Command, aliases: Record<string, keyof TrainConfig> = {}): Command {
  for (const option of cmd.options) {
    const key = aliases[option.attributeName()] ?? option.attributeName();
    const value = (DEFAULT_CONFIG as unknown as Record<string, unknown>)[key];
    if (value === undefined || typeof value === "object" || option.description.includes("(default"))
      continue;
    option.description += ` (default: ${value})`;
  }
  return cmd;
}

export function buildProgram(): Command {
  const program = new Command("rankwise")
    .description("Train and fine-tune neural networks in TypeScript with matrix-aware optimizers.")
    .version(pkg.version)
    .option("--debug", "print stack traces on errors")
    .showHelpAfterError(false)
    .hook("preAction", (_program, command) => {
      if (["train", "compare", "finetune"].includes(command.name())) checkFolders(command);
    })
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text.startsWith("error:") ? "" : text),
    });

  showDefaults(
    addTrainFlags(
      program
        .command("train")
        .description(
          "train a LLaMA-style model on a corpus (defaults: Moby Dick, a few minutes on 2 cores)",
        )
        .option("--optimizer <name>", "optimizer (see `rankwise optimizers`)")
        .option("--out <dir>", "run folder (default: runs/<time>-<optimizer>)")
        .option("--resume <dir>", "continue the run in <dir> from its checkpoint")
        .option("--quiet", "no progress output"),
    ),
  ).action(action(trainCommand));

  showDefaults(
    addTrainFlags(
      program
        .command("compare")
        .description(
          "train several optimizers on the same model, data, seed and steps; one combined report",
        )
        .option(
          "--optimizers <specs...>",
          "optimizers, each name[:key=value,...] (e.g. adamw lion:b2=0.98); required",
        )
        .option("--out <dir>", "comparison folder (default: runs/compare-<time>)")
        .option(
          "--resume <dir>",
          "continue the comparison in <dir>: finished runs are kept, the interrupted one resumes",
        )
        .option("--quiet", "no progress output"),
    ),
  ).action(action(compareCommand));

  const generate = program
    .command("generate")
    .description("sample text from a run, a model folder or a Hugging Face Hub model")
    .argument("<model>", "run folder, model folder or Hub id owner/name[@revision]")
    .option("--adapter <dir>", "merge this PEFT adapter folder into the model first")
    .option("--tokenizer <t>", "byte or a tokenizer.json file (default: the model's own)")
    .option("--prompt <text>", "text to continue (default: none)")
    .option("--length <n>", `tokens to generate, at most ${MAX_LENGTH}`)
    .option("--temperature <t>", "sampling temperature (0 = greedy)")
    .option("--top-k <k>", "sample among the k most likely tokens (0 = all)")
    .option("--seed <n>", "random seed")
    .action(action(generateCommand));
  showDefaults(generate, { length: "sampleLength" });

  program
    .command("eval")
    .description("loss, perplexity and bits per character on a corpus's validation split")
    .argument("<model>", "run folder, model folder or Hub id owner/name[@revision]")
    .option("--adapter <dir>", "merge this PEFT adapter folder into the model first")
    .option("--data <corpus|file>", "corpus name or UTF-8 text file (default: a run's own data)")
    .option("--tokenizer <t>", "byte, char or a tokenizer.json file (default: the model's own)")
    .option("--seq-len <n>", "tokens per window (default: a run's, else 64)")
    .option("--batch-size <n>", "windows per batch (default: a run's, else 16)")
    .option("--eval-batches <n>", "evaluate at most n batches (default: all)")
    .option(
      "--val-fraction <f>",
      "validation share at the end of the data (default: a run's, else 0.1)",
    )
    .option("--json", "machine-readable output")
    .action(action(evalCommand));

  program
    .command("data-scores")
    .description("score each training window (EL2N or GraNd, 'data diet') for train --prune-data")
    .argument("<model>", "run folder (a few hundred steps in) or model folder")
    .option("--data <corpus|file>", "corpus name or UTF-8 text file (default: a run's own data)")
    .option(
      "--method <m>",
      "el2n (mean ‖softmax − onehot‖₂ over tokens) or grand (gradient norm)",
      "el2n",
    )
    .option("--out <file>", "score file to write", "scores.json")
    .option("--tokenizer <t>", "byte, char or a tokenizer.json file (default: the model's own)")
    .option("--seq-len <n>", "tokens per window (default: a run's, else 64)")
    .option("--batch-size <n>", "windows per batch (default: a run's, else 16)")
    .option("--val-fraction <f>", "validation share left out (default: a run's, else 0.1)")
    .option("--json", "print a machine-readable summary")
    .action(action(dataScoresCommand));

  showDefaults(
    addFinetuneFlags(
      program
        .command("finetune")
        .description("train an adapter (LoRA, DoRA, PiSSA, OLoRA, LoRA-GA, EVA) over a base model"),
    ),
  ).action(action(finetuneCommand));

  program
    .command("prune")
    .description("one-shot pruning of the decoder linear layers: a new model folder")
    .argument("<model>", "run folder, model folder or Hub id owner/name[@revision]")
    .option("--method <m>", "magnitude, wanda, sparsegpt, gblm, dsnot or oba (required)")
    .option("--sparsity <s>", "share of weights to prune, in [0, 1) (required unless --nm)")
    .option("--nm <N:M>", "prune N of every M consecutive inputs per row (2:4, 4:8)")
    .option(
      "--calibration <corpus|file>",
      "calibration text (default: a run's data, else moby-dick)",
    )
    .option("--samples <n>", "calibration sequences (default: 32)")
    .option("--seq-len <t>", "tokens per calibration sequence (default: 128, at most the context)")
    .option("--seed <n>", "seed drawing the calibration sequences (default: 0)")
    .option("--out <dir>", "new model folder (required)")
    .option("--json", "machine-readable summary")
    .action(action(pruneCommand));

  program
    .command("quantize")
    .description("weight quantisation of the decoder linear layers (RTN, GPTQ): a new model folder")
    .argument("<model>", "run folder, model folder or Hub id owner/name[@revision]")
    .option("--method <m>", "rtn or gptq (required)")
    .option("--bits <b>", "bits per weight: 8 or 4 (required)")
    .option(
      "--group-size <g>",
      "inputs per scale, dividing every layer's input (default: whole row)",
    )
    .option(
      "--calibration <corpus|file>",
      "gptq's calibration text (default: a run's data, else moby-dick)",
    )
    .option("--samples <n>", "calibration sequences (default: 32)")
    .option("--seq-len <t>", "tokens per calibration sequence (default: 128, at most the context)")
    .option("--seed <n>", "seed drawing the calibration sequences (default: 0)")
    .option("--out <dir>", "new model folder (required)")
    .option("--json", "machine-readable summary")
    .action(action(quantizeCommand));

  program
    .command("compress")
    .description(
      "low-rank compression of the decoder linear layers, stored and run as factors: a new model folder",
    )
    .argument("<model>", "run folder, model folder or Hub id owner/name[@revision]")
    .option("--method <m>", "svd, fwsvd, welore, cur, lqer or lq-lora (required)")
    .option("--rank-ratio <r>", "keep this share of each matrix's rank, in (0, 1]")
    .option("--energy <e>", "keep the fewest singular values holding this share of Σσ², in (0, 1]")
    .option("--bits <b>", "lqer, lq-lora: bits of the RTN-quantised W, 4 or 8 (default: 4)")
    .option("--group-size <g>", "lqer, lq-lora: inputs per scale (default: whole row)")
    .option("--iterations <n>", "lq-lora: alternating quantise/SVD rounds (default: 5)")
    .option(
      "--calibration <corpus|file>",
      "fwsvd's and lqer's calibration text (default: a run's data, else moby-dick)",
    )
    .option("--samples <n>", "calibration sequences (default: 32)")
    .option("--seq-len <t>", "tokens per calibration sequence (default: 128, at most the context)")
    .option("--seed <n>", "seed drawing the calibration sequences (default: 0)")
    .option("--out <dir>", "new model folder (required)")
    .option("--json", "machine-readable summary")
    .action(action(compressCommand));

  const adapter = program
    .command("adapter")
    .description("PEFT adapter folders: merge, inspect, convert, combine");
  adapter
    .command("merge")
    .description("merge an adapter into its base model: a new model folder")
    .option("--model <dir|run>", "base model: a run folder or a model folder (required)")
    .option("--adapter <dir>", "PEFT adapter folder (required)")
    .option("--out <dir>", "new model folder (required)")
    .action(action(adapterMergeCommand));
  adapter
    .command("inspect")
    .description("config, targeted modules, ranks, parameter count and file size of an adapter")
    .argument("<dir>", "PEFT adapter folder")
    .option("--json", "machine-readable output")
    .action(action(adapterInspectCommand));
  adapter
    .command("convert")
    .description(
      "an adapter (or the difference of two models) as a PEFT LoRA by truncated SVD of ΔW, with each module's relative error",
    )
    .argument("[adapter]", "PEFT adapter folder to convert")
    .option("--to <type>", "output adapter type: lora (required)")
    .option("--rank <k>", "keep k singular pairs per module (clipped to min(out, in))")
    .option("--energy <e>", "per module, the smallest rank keeping a share e of Σσ², in (0, 1]")
    .option("--model <dir|run>", "base model (needed for DoRA; checks the adapter's shapes)")
    .option(
      "--from-models <models...>",
      "extract from two full models instead: <base> <tuned> (mergekit-extract-lora's defaults)",
    )
    .option("--out <dir>", "new adapter folder (required)")
    .option("--json", "machine-readable report")
    .action(action(adapterConvertCommand));
  adapter
    .command("combine")
    .description("several adapters → one PEFT LoRA, weighted, on ΔW: cat, linear, svd, ties, dare")
    .argument("<adapters...>", "PEFT adapter folders")
    .option(
      "--method <m>",
      "cat (exact concat), linear (exact Σ wᵢΔWᵢ), svd (truncated), ties, dare (required)",
    )
    .option("--weights <w1,w2,...>", "one weight per adapter (default: 1 each)")
    .option("--density <d>", "ties/dare: share of each ΔW kept, in (0, 1] (default: 1)")
    .option("--rank <k>", "output rank (default: Σ rᵢ for cat/linear, max rᵢ for svd/ties/dare)")
    .option("--seed <n>", "dare: seed of the random masks (default: 0)")
    .option("--model <dir|run>", "base model (needed for DoRA inputs)")
    .option("--out <dir>", "new adapter folder (required)")
    .option("--json", "machine-readable report")
    .action(action(adapterCombineCommand));

  program
    .command("merge")
    .description("merge models as a mergekit YAML config says: a new model folder")
    .argument("<config>", "mergekit YAML (merge_method, models or slices, base_model, parameters)")
    .option("--out <dir>", "new model folder (required)")
    .option("--seed <n>", "seed of the randomised methods (dare_*, della*)", "0")
    .option(
      "--max-shard-size <bytes>",
      "split the weights into shards past this size (default: 5e9)",
    )
    .option("--quiet", "no progress output")
    .action(action(mergeCommand));

  const edit = program
    .command("edit")
    .description(
      "edit a model by projection (POME, INLP, DAMA, GU unlearning): a new model folder",
    );
  edit
    .command("pome")
    .description("equalise the top singular values of ΔW = tuned − base (Muon-style) per weight")
    .option("--base <model>", "the model before fine-tuning (required)")
    .option("--tuned <model>", "the fine-tuned model (required)")
    .option("--rank <k>", "keep k singular pairs per weight")
    .option("--energy <e>", "keep the fewest pairs holding this share of Σσ², in (0, 1]")
    .option("--ratio <r>", "keep ⌊r · rank(ΔW)⌋ pairs, in (0, 1] (default: 0.5)")
    .option("--scale <s>", "multiply the equalised ΔW by s (default: 1)")
    .option(
      "--norm <n>",
      "level of the kept singular values: mean, frobenius, spectral (default: mean)",
    )
    .option("--modules <regex>", "weights to edit (default: mlp\\.up_proj\\.weight$)")
    .option("--out <dir>", "new model folder (required)")
    .option("--json", "machine-readable summary")
    .action(action(editPomeCommand));
  edit
    .command("inlp")
    .description("remove a labelled concept from the residual stream after a block (INLP)")
    .option("--model <model>", "run folder, model folder or Hub id (required)")
    .option("--data <file>", 'JSONL of {"text": ..., "label": ...} lines (required)')
    .option("--layer <L>", "the block whose output is projected (required)")
    .option("--iterations <n>", "most linear probes (default: 10)")
    .option("--pool <p>", "hidden state per text: mean or last token (default: mean)")
    .option(
      "--tolerance <t>",
      "a probe within t of the majority share m of n texts is at chance (default: 2·√(m(1−m)/n))",
    )
    .option(
      "--fold",
      "fold P into the embeddings, o_proj and down_proj up to block L instead of storing it",
    )
    .option("--out <dir>", "new model folder (required)")
    .option("--json", "machine-readable summary")
    .action(action(editInlpCommand));
  edit
    .command("dama")
    .description(
      "project a bias direction out of mid-upper MLP outputs (DAMA), folded into down_proj",
    )
    .option("--model <model>", "run folder, model folder or Hub id (required)")
    .option("--pairs <file>", 'JSONL of {"a": ..., "b": ...} contrastive text pairs (required)')
    .option(
      "--layers <list>",
      "blocks to edit: 3, 2,3 or 2-4 (default: the mid-upper ⌊2L/3⌋…⌈0.9L⌉−1)",
    )
    .option("--rank <k>", "bias directions per block (default: 1)")
    .option("--out <dir>", "new model folder (required)")
    .option("--json", "machine-readable summary")
    .action(action(editDamaCommand));
  edit
    .command("unlearn")
    .description("gradient ascent on a forget text, orthogonal to retain gradients (GU)")
    .option("--model <model>", "run folder, model folder or Hub id (required)")
    .option("--forget <corpus|file>", "the text to forget (required)")
    .option("--retain <corpus|file>", "the text to keep (required)")
    .option("--steps <n>", "ascent steps (default: 20)")
    .option("--lr <x>", "step size (default: 0.01)")
    .option("--rank <k>", "retain gradients spanning the protected subspace per step (default: 4)")
    .option("--batch-size <n>", "windows per batch (default: 4)")
    .option("--seq-len <t>", "tokens per window (default: 64, at most the context)")
    .option("--plain", "plain gradient ascent, no projection (the baseline)")
    .option("--out <dir>", "new model folder (required)")
    .option("--json", "machine-readable summary")
    .action(action(editUnlearnCommand));

  program
    .command("align")
    .description(
      "permute a model's MLP units and attention heads to match a reference (Git Re-Basin weight matching), keeping its function: a new model folder",
    )
    .argument("<model>", "the model to permute: run folder, model folder or Hub id")
    .option("--to <model>", "the reference model to align to (required)")
    .option("--out <dir>", "new model folder (required)")
    .option("--residual", "also permute the hidden units of the residual stream (whole model)")
    .option("--seed <n>", "seed of the order in which the groups are matched (default: 0)")
    .option("--max-iter <n>", "at most n sweeps over all groups (default: 100)")
    .option("--quiet", "no progress output")
    .option("--json", "machine-readable summary")
    .action(action(alignCommand));

  program
    .command("export")
    .description("write a model as a GGUF file that llama.cpp loads, tokenizer included")
    .argument("<model>", "run folder, model folder or Hub id owner/name[@revision]")
    .option("--format <f>", "output format: gguf (required)")
    .option("--type <t>", "tensor type: f32, f16, q8_0 or q4_0 (default: f32)")
    .option("--out <file>", "the .gguf file to write (required)")
    .option("--tokenizer <t>", "byte, char or a tokenizer.json file (default: the model's own)")
    .option("--json", "machine-readable output")
    .action(action(exportCommand));

  program
    .command("inspect")
    .description("summarise a run folder, a model folder or a .safetensors file")
    .argument("<path>", "run folder, model folder or .safetensors file")
    .option("--json", "machine-readable output")
    .action(action(inspectCommand));

  program
    .command("playground")
    .description("serve the browser app that trains models in the page (WebGPU or wasm)")
    .option("--port <p>", "port to listen on, 0 = any free one (default: 8080)")
    .option("--host <h>", "address to listen on (default: 127.0.0.1)")
    .action(action(playgroundCommand));

  program
    .command("optimizers")
    .description("list every registered optimizer with its options and defaults")
    .option("--json", "machine-readable output")
    .action(action(optimizersCommand));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `rankwise optimizers | head` closes stdout early: that is not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  const program = buildProgram();
  // Help, the optimizer list and the playground's server never compute: no engine start. The
  // command is the first word after node and the script (a folder named "optimizers" elsewhere
  // must not count).
  const needsEngine =
    !["help", "optimizers", "playground"].includes(argv[2] ?? "") &&
    !argv.some((a) => ["--help", "-h", "--version", "-V"].includes(a));
  try {
    if (needsEngine) await init();
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // --help, --version
      // One line, also for commander's two-line "unknown option ... (Did you mean ...?)".
      const message = error.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ");
      process.stderr.write(`rankwise: ${message.trim()}\n`);
      return 2;
    }
    return reportError(error);
  }
}
