/**
 * One training run in the page: a LLaMA preset at character level on a text, an optimizer from
 * the registry, and an async step loop that the UI can stop and resume (the parameters and the
 * optimizer state stay on the device between calls).
 *
 * Rule: every host read is asynchronous (`await a.data()`): on some WebGPU adapters (SwiftShader)
 * jax-js's synchronous read returns zeros. Optimizers that read on the host inside their update
 * (GaLore's svd/online-PCA projectors and the methods on them, SOAP, Shampoo, COSMOS) are refused
 * on webgpu for that reason (see `webgpuProblem`).
 * The loss the summary reports (initial/final) is measured on one fixed held-out batch, so the
 * two numbers compare the same data; the per-step chart shows each training batch's loss.
 */
import { jit, numpy as np } from "@jax-js/jax";
import { BatchSampler } from "../data/sampler.js";
import { CharTokenizer } from "../data/tokenizer.js";
import { charByteHfJson } from "../data/tokenizer-hf-json.js";
import { Xoshiro128 } from "../engine/rng.js";
import * as tree from "../engine/tree.js";
import { encodeSafetensorsAsync } from "../io/safetensors-bytes.js";
import {
  initLlama,
  type LlamaParams,
  llamaForward,
  llamaLoss,
  makeLossAndGrad,
} from "../nn/llama.js";
import { type LlamaConfig, type LlamaPreset, llamaPreset, toHfConfig } from "../nn/llama-config.js";
import type { Schedule } from "../optim/core.js";
import { applyUpdates, type GradientTransformation } from "../optim/index.js";
import { withLoss } from "../optim/loss-context.js";
import { warmupCosineDecaySchedule } from "../optim/schedules.js";
import { pickToken } from "../train/generate.js";
import { getOptimizer } from "../train/registry.js";

/** What a run is built from (the form's or the URL's values). */
export interface RunSpec {
  preset: LlamaPreset;
  text: string;
  optimizer: string;
  /** Optimizer options besides the learning rate (already typed). */
  options: Record<string, unknown>;
  learningRate: number;
  steps: number;
  batchSize: number;
  seqLen: number;
  seed: number;
}

/** One step's numbers for the charts. */
export interface StepInfo {
  step: number;
  loss: number;
  learningRate: number;
  tokensPerSec: number;
}

/** Registry names whose update reads arrays on the host (synchronously) unless told otherwise. */
const HOST_READERS = new Set(["soap", "shampoo", "cosmos", "m-fac", "coap", "gradnormlorp"]);
/** Registry names whose update reads the step's loss (withLoss); only they wait for it first. */
const LOSS_READERS = new Set(["sania"]);
const PROJECTED = new Set([
  "galore",
  "galore-adafactor",
  "galore-8bit",
  "q-galore",
  "fira",
  "frugal",
]);
/** Projectors of the GaLore family that stay on the device. */
const DEVICE_PROJECTORS = new Set(["dct", "grass"]);

/** Why an optimizer cannot run on webgpu here, or null. */
export function webgpuProblem(name: string, options: Record<string, unknown>): string | null {
  const projector =
    options.projector ?? getOptimizer(name).options.find((o) => o.name === "projector")?.default;
  if (
    HOST_READERS.has(name) ||
    (PROJECTED.has(name) && !DEVICE_PROJECTORS.has(String(projector)))
  ) {
    return `${name} reads arrays on the host in its update, which WebGPU cannot do synchronously here; use wasm${PROJECTED.has(name) ? " or projector=dct/grass" : ""}`;
  }
  return null;
}

export class PlaygroundRun {
  readonly config: LlamaConfig;
  readonly tokenizer: CharTokenizer;
  readonly schedule: Schedule;
  step = 0;
  private params: LlamaParams;
  private state: unknown;
  private readonly opt: GradientTransformation<unknown>;
  private readonly lossAndGrad: ReturnType<typeof makeLossAndGrad>;
  private readonly sampler: BatchSampler;
  private readonly held: { inputs: np.Array; targets: np.Array };
  private readonly tokens: Int32Array;
  private disposed = false;
  /** The sampling forward, compiled once per run (one fixed window). */
  private forward: ((p: LlamaParams, t: np.Array) => np.Array) & { dispose(): void };

  constructor(readonly spec: RunSpec) {
    this.tokenizer = CharTokenizer.fromText(spec.text);
    this.tokens = this.tokenizer.encode(spec.text);
    this.config = llamaPreset(spec.preset, this.tokenizer.vocabSize);
    if (spec.seqLen > this.config.max_position_embeddings) {
      throw new RangeError(
        `sequence length ${spec.seqLen} exceeds the ${spec.preset} preset's ${this.config.max_position_embeddings}`,
      );
    }
    const warmupSteps = Math.min(Math.floor(spec.steps / 10), 100);
    this.schedule = warmupCosineDecaySchedule({
      init: spec.learningRate / 10,
      peak: spec.learningRate,
      warmupSteps,
      decaySteps: Math.max(spec.steps, 1),
      end: spec.learningRate / 10,
    });
    this.opt = getOptimizer(spec.optimizer).create({
      ...spec.options,
      learningRate: this.schedule,
    });
    this.params = initLlama(this.config, spec.seed);
    this.state = this.opt.init(tree.ref(this.params));
    this.lossAndGrad = makeLossAndGrad(this.config);
    this.forward = jit((p: LlamaParams, t: np.Array) => llamaForward(p, t, this.config)) as never;
    this.sampler = new BatchSampler(this.tokens, {
      batchSize: spec.batchSize,
      seqLen: spec.seqLen,
      seed: spec.seed,
    });
    // The held-out batch: its own seed, so it is not the first training batch.
    this.held = new BatchSampler(this.tokens, {
      batchSize: spec.batchSize,
      seqLen: spec.seqLen,
      seed: spec.seed + 7919,
    }).next();
  }

  get done(): boolean {
    return this.step >= this.spec.steps;
  }

  /** The loss on the fixed held-out batch. */
  async heldLoss(): Promise<number> {
    const loss = llamaLoss(
      tree.ref(this.params),
      this.held.inputs.ref,
      this.held.targets.ref,
      this.config,
    );
    return ((await loss.data()) as Float32Array)[0];
  }

  /** One optimizer step; the loss is read back (asynchronously) before returning. */
  async trainStep(): Promise<StepInfo> {
    const t0 = performance.now();
    const batch = this.sampler.next();
    const [loss, grads] = this.lossAndGrad(tree.ref(this.params), batch.inputs, batch.targets);
    const first = LOSS_READERS.has(this.spec.optimizer)
      ? ((await loss.ref.data()) as Float32Array)[0]
      : Number.NaN;
    const [updates, next] = withLoss(first, () =>
      this.opt.update(grads, this.state, tree.ref(this.params)),
    );
    this.state = next;
    this.params = applyUpdates(this.params, updates) as LlamaParams;
    const value = ((await loss.data()) as Float32Array)[0];
    const seconds = (performance.now() - t0) / 1000;
    const info = {
      step: this.step,
      loss: value,
      learningRate: this.schedule(this.step),
      tokensPerSec: (this.spec.batchSize * this.spec.seqLen) / seconds,
    };
    this.step++;
    return info;
  }

  /** `length` characters sampled after `prompt` (temperature 0.8, top-k 20). */
  async sample(prompt: string, length: number, seed = 0): Promise<string> {
    const window = this.spec.seqLen;
    const known = [...prompt].filter((ch) => this.tokenizer.vocab.includes(ch)).join("");
    const context = Array.from(this.tokenizer.encode(known || this.tokenizer.vocab[0]));
    const rng = Xoshiro128.fromSeed(seed);
    const out: number[] = [];
    for (let i = 0; i < length; i++) {
      const ctx = context.slice(-window);
      const padded = new Int32Array(window);
      padded.set(ctx);
      const logits = this.forward(
        tree.ref(this.params),
        np.array(padded, { shape: [1, window], dtype: np.int32 }),
      );
      const vocab = this.config.vocab_size;
      // The whole window comes back (small: window × vocab) and the last position is taken here.
      const all = (await logits.data()) as Float32Array;
      const id = pickToken(
        all.subarray((ctx.length - 1) * vocab, ctx.length * vocab),
        0.8,
        20,
        rng,
      );
      out.push(id);
      context.push(id);
    }
    return this.tokenizer.decode(out);
  }

  /**
   * The trained model as a Hugging Face folder's files (config.json, model.safetensors,
   * tokenizer.json), written by the library's own encoders (what `saveModel` writes in Node).
   */
  async modelFiles(): Promise<Record<string, Uint8Array>> {
    const enc = new TextEncoder();
    const json = (x: unknown) => enc.encode(`${JSON.stringify(x, null, 2)}\n`);
    return {
      "config.json": json(toHfConfig(this.config)),
      "model.safetensors": await encodeSafetensorsAsync(this.params, { format: "pt" }),
      "tokenizer.json": json(charByteHfJson(this.tokenizer)),
    };
  }

  /** The trained parameters (borrowed: the caller gets new references). */
  paramsRef(): LlamaParams {
    return tree.ref(this.params);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tree.dispose([this.params as tree.Params, this.state as tree.Params]);
    this.held.inputs.dispose();
    this.held.targets.dispose();
    this.lossAndGrad.dispose();
    this.forward.dispose();
  }
}
