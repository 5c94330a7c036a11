/**
 * The browser entry's `peft` namespace: LoRA-family adapters (config, create, the pure
 * (base, adapter) → effective weights that jit and grad go through, merge/unmerge) and PEFT's
 * two adapter files as bytes both ways. Adapter folders on disk are Node-only.
 */

export { decodeAdapter, encodeAdapter } from "../peft/adapter-bytes.js";
export * from "../peft/browser-safe.js";
