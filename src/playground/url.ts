/**
 * The playground's URL contract (exact; outside checks call it):
 * `?autorun=1&steps=N&optimizer=NAME&model=PRESET&backend=webgpu|wasm` trains without clicks and
 * writes `{"backend", "steps", "initialLoss", "finalLoss", "tokensPerSec"}` into `<pre id="result">`.
 * Every parameter is optional; a bad one is one line naming it and the accepted values.
 * Extra (not in the contract): `lr`, `corpus`.
 */
import { LLAMA_PRESETS, type LlamaPreset } from "../nn/llama-config.js";
import { optimizerNames } from "../train/registry.js";

export interface UrlSettings {
  autorun: boolean;
  steps?: number;
  optimizer?: string;
  model?: LlamaPreset;
  backend?: "webgpu" | "wasm";
  lr?: number;
  corpus?: string;
}

export const CORPUS_NAMES = ["moby-dick", "sotu"] as const;

export function parseUrl(search: string): UrlSettings {
  const q = new URLSearchParams(search);
  const out: UrlSettings = { autorun: q.get("autorun") === "1" };
  const steps = q.get("steps");
  if (steps !== null) {
    const n = Number(steps);
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`steps must be a positive integer, got "${steps}"`);
    out.steps = n;
  }
  const optimizer = q.get("optimizer");
  if (optimizer !== null) {
    if (!optimizerNames().includes(optimizer)) {
      throw new RangeError(
        `unknown optimizer "${optimizer}" (accepted: ${optimizerNames().join(", ")})`,
      );
    }
    out.optimizer = optimizer;
  }
  const model = q.get("model");
  if (model !== null) {
    if (!(LLAMA_PRESETS as readonly string[]).includes(model)) {
      throw new RangeError(`model must be one of ${LLAMA_PRESETS.join(", ")}, got "${model}"`);
    }
    out.model = model as LlamaPreset;
  }
  const backend = q.get("backend");
  if (backend !== null) {
    if (backend !== "webgpu" && backend !== "wasm") {
      throw new RangeError(`backend must be webgpu or wasm, got "${backend}"`);
    }
    out.backend = backend;
  }
  const lr = q.get("lr");
  if (lr !== null) {
    const v = Number(lr);
    if (!(v > 0) || !Number.isFinite(v))
      throw new RangeError(`lr must be a positive number, got "${lr}"`);
    out.lr = v;
  }
  const corpus = q.get("corpus");
  if (corpus !== null) {
    if (!(CORPUS_NAMES as readonly string[]).includes(corpus)) {
      throw new RangeError(`corpus must be one of ${CORPUS_NAMES.join(", ")}, got "${corpus}"`);
    }
    out.corpus = corpus;
  }
  return out;
}
