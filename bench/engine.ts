/**
 * Start jax-js inside a benchmark child. The thread-pool shim must load before jax-js does, so
 * both are imported here, dynamically and in order; parents never call this and never load jax-js.
 */
export type Jax = typeof import("@jax-js/jax");

export async function startEngine(): Promise<{ jax: Jax; threads: number }> {
  await import("../src/engine/node-threads.js");
  const jax = await import("@jax-js/jax");
  const { init } = await import("../src/engine/init.js");
  const info = await init({ device: "wasm" });
  return { jax, threads: info.threads };
}
