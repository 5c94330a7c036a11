/**
 * Side-effect module, imported before jax-js: in Node it gives jax-js what it looks for to start
 * its wasm thread pool. jax-js builds its wasm backend when it is first imported, and the pool only
 * exists if a global `Worker` (and SharedArrayBuffer) is there at that moment, so this must run
 * first. It must not import jax-js itself.
 *
 * The pool size comes from `RANKWISE_THREADS` (default 1). With more than one thread, kernels run
 * asynchronously: read arrays with `await a.data()` rather than `dataSync()`.
 * Measured in bench/matmul.ts (docs/benchmarks.md).
 */

import { UsageError } from "./errors.js";

type WorkerThreads = typeof import("node:worker_threads");
type NodeBuffer = typeof import("node:buffer");

const proc = (globalThis as { process?: NodeJS.Process }).process;
const isNode = proc?.versions?.node !== undefined;

/** Number of wasm threads requested for this process (1 outside Node). */
export const requestedThreads = isNode ? parseThreads(proc!.env.RANKWISE_THREADS) : 1;

/** Refused at import (nothing can run with a thread count jax-js never got); a UsageError, so the
 *  CLI (bin/rankwise.js) reports it as one line with exit code 2. */
function parseThreads(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new UsageError(`RANKWISE_THREADS must be an integer from 1 to 256, got "${value}"`);
  }
  return n;
}

/** How long a worker waits on shared memory for the next synchronous kernel (ms). */
const LINGER_MS = 5;

/**
 * How long a waiting thread spins before it sleeps (ms): the worker for its next kernel, the
 * caller for the workers' share (read by the engine patch as globalThis.__jaxSyncSpinMs). A futex
 * wake-up takes ~20 µs on this project's VMs, as long as a small kernel runs; spinning made the
 * default model's two-thread step 1.3× faster (145–150 → 112–113 ms). Only where every thread has
 * a core of its own: otherwise a spinning thread takes the core another one needs.
 */
const SPIN_MS = 1;
const cores = isNode
  ? (proc!.getBuiltinModule?.("node:os") as typeof import("node:os") | undefined)
  : undefined;
const spinMs = (cores?.availableParallelism() ?? 1) >= requestedThreads ? SPIN_MS : 0;

// Code run inside each worker thread (as CommonJS or ESM, depending on how the parent was started,
// hence getBuiltinModule rather than require/import): it provides the Web Worker globals jax-js's worker source
// expects (self, onmessage, postMessage), then evaluates that source once it arrives.
const BOOTSTRAP = `
const { parentPort, receiveMessageOnPort } = process.getBuiltinModule("node:worker_threads");
globalThis.self = globalThis;
globalThis.postMessage = (message) => parentPort.postMessage(message);
let early = [];
function drain() {
  for (let m = receiveMessageOnPort(parentPort); m !== undefined; m = receiveMessageOnPort(parentPort)) {
    self.onmessage({ data: m.message });
  }
}
// After a synchronous kernel (its message carries the pool's shared control array), stay off the
// event loop for a moment: wait on this worker's job number and, when it moves, run the job the
// engine patch wrote into the worker's slot (taking the messages posted before it, new kernels'
// modules, straight from the port). Waking through the event loop costs more than a small kernel
// runs. The slot's flag tells the caller whether to post a wake-up instead.
function linger(control) {
  const slot = self.__rankwiseJobSlot;
  Atomics.store(control, slot + 1, 1);
  for (;;) {
    const seen = self.__rankwiseSharedJob(control, drain);
    const until = performance.now() + ${spinMs};
    while (Atomics.load(control, slot) === seen && performance.now() < until);
    if (Atomics.wait(control, slot, seen, ${LINGER_MS}) === "timed-out") {
      Atomics.store(control, slot + 1, 0);
      // A job numbered between the time-out and the flag: its caller saw the flag still set.
      if (Atomics.load(control, slot) === seen) return;
      Atomics.store(control, slot + 1, 1);
    }
  }
}
parentPort.on("message", (message) => {
  if (early === null) {
    self.onmessage({ data: message });
    if (message && message.control) linger(message.control);
    return;
  }
  if (message && typeof message.__rankwiseWorkerSource === "string") {
    (0, eval)(message.__rankwiseWorkerSource);
    const queued = early;
    early = null;
    for (const data of queued) self.onmessage({ data });
  } else early.push(message);
});
`;

function installWorkerShim(): void {
  const getBuiltin = proc!.getBuiltinModule?.bind(proc);
  if (!getBuiltin) return; // Node < 20.16: stay single-threaded.
  const { Worker: NodeWorker } = getBuiltin("node:worker_threads") as WorkerThreads;
  const { resolveObjectURL } = getBuiltin("node:buffer") as NodeBuffer;

  /** The subset of the Web Worker API that jax-js uses, over worker_threads. */
  class WorkerShim {
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onerror: ((error: Error) => void) | null = null;
    readonly #worker: InstanceType<WorkerThreads["Worker"]>;
    #awaitingReplies = 0;

    constructor(url: string | URL) {
      this.#worker = new NodeWorker(BOOTSTRAP, { eval: true });
      // Each message jax-js sends gets exactly one reply. The thread keeps the process alive only
      // while a reply is owed, so an idle pool never blocks exit and a pending one is never dropped.
      this.#worker.unref();
      this.#worker.on("message", (data) => {
        if (--this.#awaitingReplies === 0) this.#worker.unref();
        this.onmessage?.({ data });
      });
      this.#worker.on("error", (error) => this.onerror?.(error));
      const blob = resolveObjectURL(String(url));
      if (!blob) throw new Error(`WorkerShim: cannot resolve ${String(url)}`);
      // jax-js hands its worker code over as a Blob URL, whose text is only readable async;
      // the bootstrap queues messages until it has arrived.
      void blob
        .text()
        .then((source) => this.#worker.postMessage({ __rankwiseWorkerSource: source }));
    }

    postMessage(message: unknown): void {
      // A synchronous kernel (the engine patch's runSync) reports through shared memory while
      // its caller waits, as does the wake-up for one or a module sent ahead of one: no reply will
      // come, and none needs to keep the process alive.
      const m = message as { control?: unknown; type?: unknown } | null;
      const awaited = m?.control === undefined && m?.type !== "module";
      if (awaited && this.#awaitingReplies++ === 0) this.#worker.ref();
      this.#worker.postMessage(message);
    }

    terminate(): void {
      void this.#worker.terminate();
    }
  }

  (globalThis as { Worker?: unknown }).Worker = WorkerShim;
}

if (isNode) {
  const g = globalThis as { navigator?: { hardwareConcurrency?: number }; Worker?: unknown };
  // Node 20 has no navigator: jax-js reads its thread count (and WebGPU) there.
  if (g.navigator === undefined) g.navigator = { hardwareConcurrency: requestedThreads };
  if (requestedThreads > 1 && g.Worker === undefined) {
    installWorkerShim();
    (globalThis as { __jaxSyncSpinMs?: number }).__jaxSyncSpinMs = spinMs;
  }
}
