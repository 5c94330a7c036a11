/**
 * The worker_threads shim: with RANKWISE_THREADS=2 jax-js gets its wasm thread pool, computes the
 * same bits as one thread, and the process still exits on its own (idle workers hold nothing).
 * Runs the built package in child processes, since the thread count is fixed at import time.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { expect, test } from "vitest";

const SCRIPT = `
await import("./dist/engine/node-threads.js");
const { numpy: np, random, jit, init } = await import("@jax-js/jax");
await init("wasm");
const x = random.normal(random.key(0), [192, 160]);
const f = jit((a) => np.tanh(np.matmul(a.ref, a.ref.transpose())).add(np.exp(a.sum(1, { keepdims: true }).mul(0.01))));
const data = await f(x).data();
let h = 0;
for (const v of new Uint32Array(data.buffer)) h = (Math.imul(h, 31) + v) >>> 0;
console.log(JSON.stringify({ shim: globalThis.Worker?.name ?? null, hash: h, n: data.length }));
`;

function run(threads: string, script = SCRIPT) {
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, RANKWISE_THREADS: threads },
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!);
}

test("two wasm threads compute the same bits as one, and exit cleanly", () => {
  if (!existsSync("dist/engine/node-threads.js")) throw new Error("run `npm run build` first");
  const one = run("1");
  const two = run("2");
  expect(one.shim).toBe(null);
  expect(two.shim).toBe("WorkerShim");
  expect(two.n).toBe(192 * 192);
  expect(two.hash).toBe(one.hash);
});

// Through Rankwise's init, which starts the pool so that the patched engine sends every kernel
// down its synchronous path (this thread runs a share, a worker the rest, met on shared memory).
const SYNC_SCRIPT = `
const { init } = await import("./dist/engine/init.js");
const { numpy: np, random, jit } = await import("@jax-js/jax");
await init({ device: "wasm" });
const f = jit((a) => np.tanh(np.matmul(a.ref, a.ref.transpose())).add(np.exp(a.sum(1, { keepdims: true }).mul(0.01))));
// A weight gradient's Aᵀ·B: 352 rows, which the threads split inside a 128-row tile.
const g = jit((a, b) => np.matmul(a.transpose(), b));
let h = 0;
for (let i = 0; i < 3; i++) {
  const data = f(random.normal(random.key(i), [192, 160])).dataSync();
  for (const v of new Uint32Array(data.buffer)) h = (Math.imul(h, 31) + v) >>> 0;
  const grad = g(random.normal(random.key(i), [96, 352]), random.normal(random.key(9), [96, 128])).dataSync();
  for (const v of new Uint32Array(grad.buffer)) h = (Math.imul(h, 31) + v) >>> 0;
}
console.log(JSON.stringify({ hash: h }));
`;

test("after init, two threads compute the same bits as one through the synchronous pool", () => {
  if (!existsSync("dist/engine/init.js")) throw new Error("run `npm run build` first");
  const one = run("1", SYNC_SCRIPT);
  const two = run("2", SYNC_SCRIPT);
  expect(two.hash).toBe(one.hash);
});

test("a bad RANKWISE_THREADS is refused with a message naming it", () => {
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", SCRIPT], {
    env: { ...process.env, RANKWISE_THREADS: "many" },
    encoding: "utf8",
  });
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/RANKWISE_THREADS must be an integer/);
});
