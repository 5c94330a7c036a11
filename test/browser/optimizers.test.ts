/**
 * Every optimizer's golden trajectory on WebGPU in headless Chromium (SwiftShader here): the
 * fixtures and tolerances of the Node tests (test/browser/fixtures.ts), replayed in one page on
 * the webgpu device and compared at every step. The suite fails when the page has no WebGPU.
 *
 * Cost: SwiftShader compiles each new kernel slowly (most of a case's time), so each optimizer
 * runs its last fixture case that can run here (usually the one with the most options); the
 * Node tests replay every case on wasm.
 *
 * Methods that read arrays on the host in their update (SVD, QR and eigendecompositions on the
 * host: GaLore's svd and online-PCA projectors and the methods built on them, PowerSGD, SOAP,
 * Shampoo, COSMOS) cannot run on this adapter: jax-js's synchronous WebGPU read returns zeros
 * and drops the WebGPU instance there (see page/entry.ts), so the page turns it
 * into a named error. Every such case is asserted to fail with exactly that error (cheap: it
 * stops at the first read), so this test says when the engine or the browser fixes it.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { closeness } from "../helpers/engine.js";
import { type GoldenCase, goldenCases, MATRIX_UPDATE_TOL } from "./fixtures.js";
import { COVERED } from "./page/factories.js";
import { chromiumAvailable, type Harness, openHarness } from "./session.js";

const SYNC_READ_ERROR = "synchronous read of a webgpu array";

/** Whether a case's update reads on the host (synchronously): see the header. */
function readsOnHost(c: GoldenCase): boolean {
  if (c.family === "matrix") return ["soap", "shampoo", "cosmos"].includes(c.optimizer);
  if (c.family !== "galore" || c.optimizer === "gwt") return false;
  return !["dct", "grass"].includes(c.options.projector ?? "svd");
}

const cases = goldenCases();
/** Per family and optimizer, the last case that runs on this adapter. */
const onGpu = [
  ...new Map(cases.filter((c) => !readsOnHost(c)).map((c) => [`${c.family}/${c.optimizer}`, c])),
].map(([, c]) => c);
const onHost = cases.filter(readsOnHost);
const enabled = chromiumAvailable();
let harness: Harness;

beforeAll(async () => {
  if (enabled) harness = await openHarness();
});
afterAll(async () => harness?.close());

type Leaves = Record<string, number[]>;
interface Replayed {
  params?: Leaves[];
  updates?: Leaves[];
  error?: string;
}

const maxAbs = (xs: number[]) => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** The first step whose parameters (or update) are off, as a message; null when all match. */
function firstMismatch(c: GoldenCase, got: Replayed): string | null {
  if (got.error !== undefined) return `${c.name}: ${got.error}`;
  for (let step = 0; step < c.params.length; step++) {
    for (const k of Object.keys(c.shapes)) {
      const checks: [string, number[], number[], number, number][] = [
        ["", got.params![step][k], c.params[step][k], c.rtol, c.atol],
      ];
      if (c.updates) {
        const want = c.updates[step][k];
        const atol = MATRIX_UPDATE_TOL * maxAbs(want) + 1e-30;
        checks.push(["update ", got.updates![step][k], want, 0, atol]);
      }
      for (const [what, actual, expected, rtol, atol] of checks) {
        const { ratio, index } = closeness(actual, expected, rtol, atol);
        if (!(ratio <= 1)) {
          return (
            `${c.name}: step ${step + 1}, ${what}${k}[${index}] = ${actual[index]}, expected ` +
            `${expected[index]} (error ${ratio.toPrecision(3)}× the tolerance)`
          );
        }
      }
    }
  }
  return null;
}

describe.skipIf(!enabled)("golden trajectories on WebGPU (Chromium)", () => {
  test("the page runs on a WebGPU adapter, not a wasm fallback", () => {
    expect(harness.devices).toContain("webgpu");
    expect(harness.adapter).not.toBeNull();
    console.log(`browser backend: webgpu (adapter ${JSON.stringify(harness.adapter)})`);
  });

  test("every fixture's optimizer has a browser factory", () => {
    for (const c of cases) expect(COVERED[c.family], c.name).toContain(c.optimizer);
  });

  test("every optimizer has a case on the GPU or an asserted host read", () => {
    const names = new Set([...onGpu, ...onHost].map((c) => `${c.family}/${c.optimizer}`));
    expect(names.size).toBe(new Set(cases.map((c) => `${c.family}/${c.optimizer}`)).size);
  });

  test.each(onGpu.map((c) => [`${c.family} ${c.name}`, c] as const))("%s", async (_, c) => {
    const { params, updates, rtol, atol, ...sent } = c;
    expect(firstMismatch(c, await harness.call<Replayed>("replay", sent, "webgpu"))).toBeNull();
  });

  test("host-reading methods stop with the named error, not with zeros", async () => {
    for (const c of onHost) {
      const { params, updates, rtol, atol, ...sent } = c;
      const got = await harness.call<Replayed>("replay", sent, "webgpu");
      expect(got.error ?? "(no error)", c.name).toContain(SYNC_READ_ERROR);
    }
    // ...and the page's WebGPU device still works afterwards (the instance was not dropped).
    const c = onGpu[0];
    const { params, updates, rtol, atol, ...sent } = c;
    expect(firstMismatch(c, await harness.call<Replayed>("replay", sent, "webgpu"))).toBeNull();
  });
});
