/**
 * The engine and optimizers in a real browser: headless Chromium loads the built modules
 * (dist/engine, dist/optim) over HTTP with an import map, `init()` picks a device (WebGPU when
 * the browser offers it, else wasm), and three AdamW steps give the same numbers as in Node.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import { adamw, applyUpdates, tree } from "../../src/index.js";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import { setup } from "../helpers/engine.js";

const ROOT = process.cwd();
const TYPES: Record<string, string> = { ".js": "text/javascript", ".html": "text/html" };

const PAGE = `<!doctype html>
<script type="importmap">{"imports": {"@jax-js/jax": "/node_modules/@jax-js/jax/dist/index.js"}}</script>
<script type="module">
  import { numpy as np } from "@jax-js/jax";
  import { init } from "/dist/engine/init.js";
  import { adamw, applyUpdates } from "/dist/optim/index.js";
  import * as tree from "/dist/engine/tree.js";
  try {
    const engine = await init();
    let params = { w: np.array([[1, -2, 3], [0.5, 0, -1]]), b: np.array([0.1, 0.2, 0.3]) };
    const opt = adamw({ learningRate: 0.1, weightDecay: 0.1 });
    let state = opt.init(tree.ref(params));
    for (let i = 0; i < 3; i++) {
      const grads = tree.mapWithPath((p) => p.ref.mul(p.ref).add(0.5), params);
      const [u, s] = opt.update(grads, state, tree.ref(params));
      params = applyUpdates(params, u);
      state = s;
    }
    window.result = { device: engine.device, w: Array.from(await params.w.data()), b: Array.from(await params.b.data()) };
  } catch (error) {
    window.result = { error: String(error && error.stack || error) };
  }
</script>`;

let server: Server;
let base = "";

beforeAll(async () => {
  await setup();
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      return;
    }
    const file = join(ROOT, path);
    if (!file.startsWith(ROOT) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function inNode(): { w: number[]; b: number[] } {
  let params: any = {
    w: np.array([
      [1, -2, 3],
      [0.5, 0, -1],
    ]),
    b: np.array([0.1, 0.2, 0.3]),
  };
  const opt = adamw({ learningRate: 0.1, weightDecay: 0.1 });
  let state = opt.init(tree.ref(params));
  for (let i = 0; i < 3; i++) {
    const grads = tree.map((p: np.Array) => p.ref.mul(p.ref).add(0.5), params);
    const [u, s] = opt.update(grads, state, tree.ref(params));
    params = applyUpdates(params, u);
    state = s;
  }
  const out = {
    w: Array.from(params.w.ref.dataSync() as Float32Array),
    b: Array.from(params.b.ref.dataSync() as Float32Array),
  };
  tree.dispose([params, state]);
  return out;
}

test("init() and AdamW run in Chromium and match Node", async () => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`Chromium not found at ${CHROMIUM} (.ci/run installs it)`);
    return;
  }
  if (!existsSync(join(ROOT, "dist/engine/init.js"))) throw new Error("run `npm run build` first");
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(base);
    await page.waitForFunction(() => (window as any).result !== undefined, null, {
      timeout: 60_000,
    });
    const result = await page.evaluate(() => (window as any).result);
    expect(result.error, result.error).toBeUndefined();
    expect(errors).toEqual([]);
    // launchChromium has no GPU: this is the wasm path (test/browser/ covers webgpu).
    expect(result.device).toBe("wasm");
    const expected = inNode();
    for (const key of ["w", "b"] as const) {
      result[key].forEach((v: number, i: number) => {
        expect(v).toBeCloseTo(expected[key][i], 6);
      });
    }
  } finally {
    await browser.close();
  }
});
