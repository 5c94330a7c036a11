/**
 * The size of jax-js's wasm heap inside a benchmark child. jax-js keeps its WebAssembly.Memory in
 * a private field, so {@link watchWasmMemory} swaps the global constructor for a subclass that
 * remembers each Memory it builds, for as long as the engine takes to start, then puts the
 * original back. The heap is the byte length of that memory's buffer: jax-js's allocator only
 * grows it (freed buffers go to per-size free lists, never back to the system), so its size is
 * the high-water mark of live tensor bytes plus fragmentation.
 *
 * Call it in a child before anything imports jax-js; parents never load the engine.
 */

/** Start recording Memory objects; `stop()` restores the constructor, `bytes()` reads the heap
 *  (undefined if the engine built none while recording, e.g. on WebGPU). */
export function watchWasmMemory(): { stop(): void; bytes(): number | undefined } {
  const memories: WebAssembly.Memory[] = [];
  const Original = WebAssembly.Memory;
  class Recorded extends Original {
    constructor(descriptor: WebAssembly.MemoryDescriptor) {
      super(descriptor);
      memories.push(this);
    }
  }
  (WebAssembly as { Memory: typeof WebAssembly.Memory }).Memory = Recorded;
  return {
    stop: () => {
      (WebAssembly as { Memory: typeof WebAssembly.Memory }).Memory = Original;
    },
    // Each read of `.buffer` sees the current length (a shared memory hands out a new buffer
    // object after it grows).
    bytes: () =>
      memories.length === 0 ? undefined : memories.reduce((s, m) => s + m.buffer.byteLength, 0),
  };
}
