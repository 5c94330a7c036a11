/**
 * The run's sampler when `--data` names several domains: the domain streams (sampler.ts), the
 * current domain weights and the mixing rule that moves them (uniform/fixed: never; doremi,
 * dga, odm: see their files), with the device work each rule needs:
 *
 * - doremi: before each batch's gradient, the clipped per-token excess loss of the trained model
 *   over the reference run's model on the batch's rows, averaged per domain → doremiUpdate;
 * - odm: the batch's per-row training losses summed per domain → odmUpdate;
 * - dga: every k steps (before drawing the batch), one gradient per domain on a probe batch of
 *   that domain and one on a second probe batch of the target domain, their inner products →
 *   dgaUpdate. Probes come from the domains' own streams, so they are part of the saved state.
 * - upgrad: no weights move; every batch is equal blocks of the domains' rows (sampler.ts
 *   `stratified`), whose gradients ../upgrad-step.ts aggregates.
 *
 * The weights a batch is drawn with are those before its own observation (the update is used
 * from the next batch on). A non-finite observation leaves the weights as they were. State
 * (streams, weights, rule state) is plain numbers in the checkpoint's sampler entry.
 */
import type { Batch } from "../../data/sampler.js";
import { UsageError } from "../../engine/errors.js";
import * as tree from "../../engine/tree.js";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import type { LossAndGrad } from "../../nn/loss.js";
import { DGA_DEFAULTS, dgaUpdate } from "./dga.js";
import { type DoremiState, doremiInit, doremiUpdate } from "./doremi.js";
import { type OdmState, odmInit, odmUpdate } from "./odm.js";
import { makeRowExcess, makeRowLoss, type RowFn } from "./row-loss.js";
import { MixtureSampler, type MixtureStreams } from "./sampler.js";
import type { MixingRule, MixingSpec } from "./spec.js";

/** What the checkpoint keeps of a mixer: its streams plus the mixing state. */
export interface MixerState extends MixtureStreams {
  mixing: {
    rule: MixingRule;
    domains: string[];
    weights: number[];
    /** DGA: the target domain and the interval k (a resume must keep them). */
    target?: string;
    every?: number;
    doremi?: DoremiState;
    odm?: OdmState;
  };
}

export interface MixerOptions {
  names: string[];
  spec: MixingSpec;
  /** The training tokens of every domain end to end, and each domain's part. */
  tokens: Int32Array;
  parts: Int32Array[];
  batchSize: number;
  seqLen: number;
  seed: number;
  /** DGA: the target domain's index and the update interval k. */
  target?: number;
  every?: number;
  /** DoReMi: loads the reference model (the caller owns the returned arrays until dispose). */
  reference?: () => Promise<{ config: LlamaConfig; params: LlamaParams }>;
}

/** What an observing draw needs from the run. */
export interface MixContext {
  params: LlamaParams;
  /** Steps taken so far. */
  step: number;
  modelConfig: LlamaConfig;
  lossAndGrad: LossAndGrad<LlamaParams>;
}

export class Mixer {
  readonly names: string[];
  readonly rule: MixingRule;
  weights: number[];
  private readonly sampler: MixtureSampler;
  private readonly o: MixerOptions;
  private doremi?: DoremiState;
  private odm?: OdmState;
  private rowLoss?: RowFn<[LlamaParams, any, any]>;
  private rowExcess?: RowFn<[LlamaParams, LlamaParams, any, any]>;
  private reference?: LlamaParams;
  private alignedAt?: number;

  constructor(o: MixerOptions) {
    this.o = o;
    this.names = o.names;
    this.rule = o.spec.rule;
    this.weights = [...o.spec.weights];
    this.sampler = new MixtureSampler(o.tokens, o.parts, o);
    if (this.rule === "doremi") this.doremi = doremiInit(o.names.length);
    if (this.rule === "odm") this.odm = odmInit(o.names.length);
  }

  get position(): number {
    return this.sampler.position;
  }

  /** DGA's update interval k. */
  get every(): number {
    return this.o.every ?? DGA_DEFAULTS.every;
  }

  /** The next batch by the current weights, without observing it. */
  next(): Batch {
    if (this.rule === "upgrad") return this.sampler.stratified(); // equal blocks (upgrad-step.ts)
    return this.sampler.next(this.weights);
  }

  /** The next batch; the rule observes what it needs and updates the weights. */
  async nextObserved(c: MixContext): Promise<Batch> {
    // Once per step, at its first micro-batch.
    if (this.rule === "dga" && c.step % this.every === 0 && this.alignedAt !== c.step) {
      this.alignedAt = c.step;
      await this.alignWeights(c);
    }
    const batch =
      this.rule === "upgrad" ? this.sampler.stratified() : this.sampler.next(this.weights);
    if (this.rule === "doremi") await this.observeDoremi(c, batch);
    else if (this.rule === "odm") await this.observeOdm(c, batch);
    return batch;
  }

  private async observeDoremi(c: MixContext, batch: Batch & { domains: Int32Array }) {
    if (!this.reference) {
      const ref = await this.o.reference!();
      this.reference = ref.params;
      this.rowExcess = makeRowExcess(c.modelConfig, ref.config);
    }
    const rows = await this.rowExcess!(
      tree.share(c.params),
      tree.share(this.reference),
      batch.inputs.ref,
      batch.targets.ref,
    ).data();
    const { sums, counts } = perDomain(rows, batch.domains, this.names.length);
    const excess = sums.map((s, i) => (counts[i]! > 0 ? s / counts[i]! : undefined));
    if (excess.some((x) => x !== undefined && !Number.isFinite(x))) return;
    const next = doremiUpdate(this.weights, this.doremi!, excess);
    this.weights = next.weights;
    this.doremi = next.state;
  }

  private async observeOdm(c: MixContext, batch: Batch & { domains: Int32Array }) {
    this.rowLoss ??= makeRowLoss(c.modelConfig);
    const rows = await this.rowLoss(
      tree.share(c.params),
      batch.inputs.ref,
      batch.targets.ref,
    ).data();
    const { sums } = perDomain(rows, batch.domains, this.names.length);
    if (!sums.every(Number.isFinite)) return;
    const next = odmUpdate(this.weights, this.odm!, sums, rows.length);
    this.weights = next.weights;
    this.odm = next.state;
  }

  /** DGA: gradients of each domain and of the target on probe batches, then the update. */
  private async alignWeights(c: MixContext) {
    const gradient = (probe: Batch) => {
      const [loss, grads] = c.lossAndGrad(tree.share(c.params), probe.inputs, probe.targets);
      loss.dispose();
      return grads;
    };
    const target = gradient(this.sampler.probe(this.o.target!));
    const alignment: number[] = [];
    try {
      for (let i = 0; i < this.names.length; i++) {
        const g = gradient(this.sampler.probe(i));
        alignment.push(await innerProduct(g, target));
      }
    } finally {
      tree.dispose(target);
    }
    if (alignment.every(Number.isFinite)) this.weights = dgaUpdate(this.weights, alignment);
  }

  /** name → weight, for the metrics rows. */
  domainWeights(): Record<string, number> {
    return Object.fromEntries(this.names.map((n, i) => [n, this.weights[i]!]));
  }

  state(): MixerState {
    return {
      ...this.sampler.state(),
      mixing: {
        rule: this.rule,
        domains: [...this.names],
        weights: [...this.weights],
        ...(this.rule === "dga" ? { target: this.names[this.o.target!], every: this.every } : {}),
        ...(this.doremi ? { doremi: structuredClone(this.doremi) } : {}),
        ...(this.odm ? { odm: structuredClone(this.odm) } : {}),
      },
    };
  }

  /** Continue from a checkpoint's state; refuses one from another rule or domain list. */
  restore(state: MixerState): void {
    const m = state?.mixing;
    if (!m || !Array.isArray(m.weights)) {
      throw new UsageError(
        "cannot resume: the checkpoint has no domain-mixing state (it was trained on one domain)",
      );
    }
    if (m.rule !== this.rule) {
      throw new UsageError(
        `cannot resume: mixing is ${this.rule} but the checkpoint was trained with ${m.rule}`,
      );
    }
    if (JSON.stringify(m.domains) !== JSON.stringify(this.names)) {
      throw new UsageError(
        `cannot resume: the domains are ${this.names.join(",")} but the checkpoint was trained on ${m.domains.join(",")}`,
      );
    }
    if (
      this.rule === "dga" &&
      (m.target !== this.names[this.o.target!] || m.every !== this.every)
    ) {
      throw new UsageError(
        `cannot resume: dga targets ${this.names[this.o.target!]} every ${this.every} steps but the checkpoint was trained with ${m.target} every ${m.every}`,
      );
    }
    this.sampler.restore(state);
    this.weights = [...m.weights];
    if (m.doremi) this.doremi = structuredClone(m.doremi);
    if (m.odm) this.odm = structuredClone(m.odm);
  }

  dispose(): void {
    this.rowLoss?.dispose();
    this.rowExcess?.dispose();
    if (this.reference) tree.dispose(this.reference);
    this.rowLoss = undefined;
    this.rowExcess = undefined;
    this.reference = undefined;
  }
}

/** Sum and count of `rows` per domain (B numbers; a loop over rows, not elements). */
function perDomain(rows: ArrayLike<number>, domains: Int32Array, k: number) {
  const sums = new Array<number>(k).fill(0);
  const counts = new Array<number>(k).fill(0);
  for (let r = 0; r < domains.length; r++) {
    sums[domains[r]!]! += rows[r]!;
    counts[domains[r]!]!++;
  }
  return { sums, counts };
}

/** ⟨a, b⟩ over all leaves; consumes `a`, borrows `b`. */
async function innerProduct(a: LlamaParams, b: LlamaParams): Promise<number> {
  let total: any;
  for (const key of Object.keys(a)) {
    const term = a[key]!.mul(b[key]!.ref).sum();
    total = total === undefined ? term : total.add(term);
  }
  return (await total.data())[0] as number;
}
