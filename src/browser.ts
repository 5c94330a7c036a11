/**
 * The browser entry (`rankwise/browser`): everything of the library that works in a web page,
 * with no `node:` import anywhere below it (test/browser/browser-entry.test.ts bundles it for
 * platform=browser and fails on any), so any bundler takes it without settings.
 *
 * What is here: the engine start (`init`: WebGPU when the page offers it, else wasm), tree
 * helpers, every optimizer, combinator, primitive and schedule, the optimizer registry, the models
 * (LLaMA-style decoder, MLP) and their Hugging Face configs, LoRA-family adapters (create, apply,
 * merge) and PEFT's adapter files as bytes, safetensors as bytes, tokenizers (char, byte, and any
 * tokenizer.json as parsed JSON), batch sampling, and the linear algebra.
 * What is not: whatever reads or writes files (model, run and adapter folders, checkpoints,
 * corpora from node_modules, Hub downloads, the CLI). A page reads bytes itself (`fetch`,
 * `File.arrayBuffer()`) and hands them to the `decode*` functions; `nn.modelFromFiles`
 * reads a picked Hugging Face folder tensor by tensor.
 *
 * The first import is a no-op in pages; in Node (tests, benchmarks) it must precede jax-js, as in
 * the package root.
 */
import "./engine/node-threads.js";

export * as data from "./browser/data.js";
export * as io from "./browser/io.js";
export * as nn from "./browser/nn.js";
export * as peft from "./browser/peft.js";
export { OptionError, OptionTypeError, UsageError } from "./engine/errors.js";
export { type EngineInfo, type InitOptions, init } from "./engine/init.js";
export { Xoshiro128 } from "./engine/rng.js";
export * as tree from "./engine/tree.js";
export { type Params, stateBytes, type Tree } from "./engine/tree.js";
export * as linalg from "./linalg/index.js";
export * from "./optim/index.js";
export * as transforms from "./optim/transforms/index.js";
export * as registry from "./train/registry.js";
