/**
 * Rankwise: matrix-aware training and fine-tuning on jax-js.
 * The first import sets up jax-js's wasm thread pool in Node; it must stay first.
 */
import "./engine/node-threads.js";

export { type EngineInfo, type InitOptions, init } from "./engine/init.js";
export * as tree from "./engine/tree.js";
export { type Params, stateBytes, type Tree } from "./engine/tree.js";
export * from "./optim/index.js";
