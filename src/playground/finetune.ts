/**
 * LoRA fine-tuning in the page: a frozen base (the model trained above, or a Hugging Face folder
 * read tensor by tensor, src/browser/model-files.ts), a LoRA adapter (PEFT's config and
 * initialisation: A random, B zero), AdamW on the adapter only, and the adapter's PEFT files
 * (adapter_config.json + adapter_model.safetensors) for download.
 *
 * Rule: the base is an argument of the jit'ed loss, never a leaf of the optimizer: its gradient is
 * not taken and it has no optimizer state (what `memory()` reports: base, adapter and optimizer
 * state bytes on the device). Every host read is asynchronous (`await a.data()`), as in run.ts.
 * The learning rate is constant (fine-tuning runs here are short).
 */
import type { numpy as np } from "@jax-js/jax";
import { BatchSampler } from "../data/sampler.js";
import type { Tokenizer } from "../data/tokenizer.js";
import * as tree from "../engine/tree.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { adamw, applyUpdates, type GradientTransformation } from "../optim/index.js";
import { encodeAdapter } from "../peft/adapter-bytes.js";
import { type LoraConfig, loraConfig } from "../peft/config.js";
import {
  type AdapterLossAndGrad,
  type AdapterParams,
  effectiveParams,
  makeAdapterLossAndGrad,
} from "../peft/effective.js";
import { createAdapter } from "../peft/init.js";
import type { AdapterPlan } from "../peft/match.js";

/** The frozen base a fine-tuning run adapts (owned by the run once given). */
export interface BaseModel {
  config: LlamaConfig;
  params: LlamaParams;
  tokenizer: Tokenizer;
  /** Where it came from, for the page and the adapter's base_model_name_or_path. */
  source: string;
}

export interface LoraSpec {
  text: string;
  r: number;
  alpha: number;
  targetModules: string[];
  steps: number;
  learningRate: number;
  batchSize: number;
  seqLen: number;
  seed: number;
}

/** Bytes on the device, by role. */
export interface LoraMemory {
  base: number;
  adapter: number;
  optimizerState: number;
}

export class LoraRun {
  readonly config: LoraConfig;
  readonly plan: AdapterPlan;
  step = 0;
  private adapter: AdapterParams;
  private state: unknown;
  private readonly opt: GradientTransformation<unknown>;
  private readonly lossAndGrad: AdapterLossAndGrad;
  private readonly sampler: BatchSampler;
  private disposed = false;

  /** Takes ownership of `base.params`. */
  constructor(
    readonly base: BaseModel,
    readonly spec: LoraSpec,
  ) {
    const tokens = base.tokenizer.encode(spec.text);
    if (tokens.length <= spec.seqLen + 1)
      throw new RangeError(
        `the text is too short: ${tokens.length} tokens for sequence length ${spec.seqLen}`,
      );
    if (spec.seqLen > base.config.max_position_embeddings)
      throw new RangeError(
        `sequence length ${spec.seqLen} exceeds the model's ${base.config.max_position_embeddings}`,
      );
    const created = createAdapter(
      base.params,
      loraConfig({
        r: spec.r,
        loraAlpha: spec.alpha,
        targetModules: spec.targetModules,
        baseModelNameOrPath: base.source,
        taskType: "CAUSAL_LM",
      }),
      { seed: spec.seed },
    );
    this.config = created.config;
    this.plan = created.plan;
    this.adapter = created.params;
    this.opt = adamw({ learningRate: spec.learningRate, weightDecay: 0 });
    this.state = this.opt.init(tree.ref(this.adapter));
    this.lossAndGrad = makeAdapterLossAndGrad(this.plan, base.config);
    this.sampler = new BatchSampler(tokens, {
      batchSize: spec.batchSize,
      seqLen: spec.seqLen,
      seed: spec.seed,
    });
  }

  get done(): boolean {
    return this.step >= this.spec.steps;
  }

  /** One AdamW step on the adapter; the training batch's loss. */
  async trainStep(): Promise<number> {
    const batch = this.sampler.next();
    const [loss, grads] = this.lossAndGrad(
      tree.ref(this.adapter),
      tree.ref(this.base.params),
      batch.inputs,
      batch.targets,
    );
    const [updates, next] = this.opt.update(grads, this.state, tree.ref(this.adapter));
    this.state = next;
    this.adapter = applyUpdates(this.adapter, updates) as AdapterParams;
    this.step++;
    return ((await loss.data()) as Float32Array)[0];
  }

  memory(): LoraMemory {
    return {
      base: tree.stateBytes(this.base.params),
      adapter: tree.stateBytes(this.adapter),
      optimizerState: tree.stateBytes(this.state as tree.Tree),
    };
  }

  /** The adapter's PEFT files (adapter_config.json, adapter_model.safetensors) as bytes. */
  files(): Promise<Record<string, Uint8Array>> {
    return encodeAdapter({ config: this.config, params: this.adapter });
  }

  /**
   * ΔW of every adapted module as the training forward sees it: effective weight − base weight,
   * flattened (for checks against a reader of the downloaded files).
   */
  async deltas(): Promise<Record<string, number[]>> {
    const eff = effectiveParams(tree.ref(this.base.params), tree.ref(this.adapter), this.plan);
    const out: Record<string, number[]> = {};
    for (const m of this.plan.modules) {
      const key = `${m.name}.weight`;
      const d: np.Array = eff[key].ref.sub(this.base.params[key].ref);
      out[m.name] = Array.from((await d.data()) as Float32Array);
    }
    tree.dispose(eff);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tree.dispose([this.adapter, this.state as tree.Tree, this.base.params]);
    this.lossAndGrad.dispose();
  }
}
