/**
 * Benchmark entry point (`npm run bench`): runs the named benchmarks one after another, each in
 * its own process, then regenerates docs/benchmarks.md from bench/results/*.json.
 *
 *   npm run bench                                  # matmul, adamw-step, train-throughput
 *   npm run bench -- matmul train-throughput --quick
 *   npm run bench -- optimizers                    # classic optimizers, small model, 150 steps
 *   npm run bench -- finetune [--quick]            # pretrain on Moby Dick, fine-tune on SOTU
 *   npm run bench -- adapters [--quick]            # every registered adapter type on SOTU
 *   npm run bench -- merge [--quick]               # two fine-tunes merged by every merge method
 *   npm run bench -- merge-memory                  # peak memory of merging three large models
 *   npm run bench -- compression [--quick]         # prune, quantize, compress: loss vs sparsity, bytes
 *   npm run bench -- browser [--quick]             # training in Chromium: webgpu (SwiftShader) vs wasm
 *   npm run bench -- mixing [--quick]              # Moby Dick + SOTU: uniform, DoReMi, DGA, ODM
 *   npm run bench -- gradnorm [--quick]            # two-task MNIST MLP: equal weights vs GradNorm
 *   npm run bench -- reweight [--quick]            # --reweight none vs loss-based rules and focal
 *   npm run bench -- monitors [--quick]            # high learning rates: SA warnings vs loss spikes
 *   npm run bench -- optimizers2 [--quick]         # round-two optimizers vs AdamW/Muon/GaLore, default model
 *   npm run bench -- scaling [--quick]             # tokens/s and peak memory, tiny → medium, seq 64 → 512
 *   npm run bench -- memory [--quick]              # RSS and wasm heap over a 2,000-step train run
 *   npm run bench -- profile [--quick]             # one training step: phases, kernels, FLOP/s
 *   npm run bench -- report                        # only rebuild the page
 *
 * `--quick` (fewer repetitions) is passed to every benchmark that takes it.
 */
import { spawn } from "node:child_process";
import { ROOT } from "./common.js";

const BENCHMARKS = [
  "matmul",
  "adamw-step",
  "train-throughput",
  "optimizers",
  "gradnorm",
  "reweight",
  "finetune",
  "adapters",
  "merge",
  "merge-memory",
  "compression",
  "browser",
  "mixing",
  "monitors",
  "optimizers2",
  "scaling",
  "memory",
  "profile",
] as const;
const DEFAULT = ["matmul", "adamw-step", "train-throughput"];
const QUICK = new Set([
  "matmul",
  "adamw-step",
  "train-throughput",
  "finetune",
  "gradnorm",
  "reweight",
  "adapters",
  "merge",
  "compression",
  "browser",
  "mixing",
  "monitors",
  "optimizers2",
  "scaling",
  "memory",
  "profile",
]);

function run(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: ROOT,
      stdio: "inherit",
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${script} exited with ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const unknownFlag = args.find((a) => a.startsWith("-") && a !== "--quick");
  if (unknownFlag) {
    throw new RangeError(`unknown flag ${unknownFlag} (accepted: --quick)`);
  }
  const names = args.filter((a) => !a.startsWith("-"));
  for (const name of names) {
    if (name !== "report" && !(BENCHMARKS as readonly string[]).includes(name)) {
      throw new RangeError(
        `unknown benchmark "${name}" (accepted: ${BENCHMARKS.join(", ")}, report)`,
      );
    }
  }
  const selected = names.length > 0 ? names.filter((n) => n !== "report") : DEFAULT;
  const started = performance.now();
  for (const name of selected) {
    await run(`bench/${name}.ts`, quick && QUICK.has(name) ? ["--quick"] : []);
  }
  await run("bench/report.ts", []);
  const minutes = (performance.now() - started) / 60000;
  process.stderr.write(`benchmarks done in ${minutes.toFixed(1)} min\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
