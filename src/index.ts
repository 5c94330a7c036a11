/**
 * Rankwise: matrix-aware training and fine-tuning on jax-js.
 * The first import sets up jax-js's wasm thread pool in Node; it must stay first.
 */
import "./engine/node-threads.js";

export * from "./data/index.js";
export { type EngineInfo, type InitOptions, init } from "./engine/init.js";
export * as tree from "./engine/tree.js";
export { type Params, stateBytes, type Tree } from "./engine/tree.js";
export * from "./io/safetensors.js";
export * from "./io/state-file.js";
export * as linalg from "./linalg/index.js";
export * from "./nn/index.js";
export * from "./optim/index.js";
export { renderReport, writeReport } from "./report/index.js";
export { DEFAULT_CONFIG, type TrainConfig, validateConfig } from "./train/config.js";
export { sampleText } from "./train/generate.js";
export { GradientSpikeMonitor } from "./train/monitors/spike-monitor.js";
export { getOptimizer, optimizerNames, registerOptimizer } from "./train/registry.js";
export { type TrainOptions, type TrainResult, train } from "./train/trainer.js";
