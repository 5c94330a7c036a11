/**
 * One browser page with the harness loaded: esbuild bundles test/browser/page/entry.ts (the
 * library from src/, jax-js included) into one module held in memory, a loopback HTTP server
 * serves it with a blank page, and headless Chromium with WebGPU (SwiftShader here) opens it.
 * `start` initialises wasm and webgpu in the page; `openHarness` refuses a page whose WebGPU
 * is missing, so a suite can never pass on a silent wasm fallback.
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { CHROMIUM, launchChromiumWebGpu } from "../helpers/chromium.js";

const ENTRY = new URL("./page/entry.ts", import.meta.url).pathname;
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module" src="/harness.js"></script>`;

export interface Harness {
  page: Page;
  /** What `start` found in the page: jax-js's devices and the WebGPU adapter. */
  devices: string[];
  adapter: { vendor: string; architecture: string } | null;
  /** Call `window.harness[name](...args)` in the page. */
  call<T>(name: string, ...args: unknown[]): Promise<T>;
  close(): Promise<void>;
}

/** The bundled harness (ES module source). */
export async function bundleHarness(): Promise<string> {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "warning",
  });
  return out.outputFiles[0].text;
}

/** Whether Chromium is here; in CI its absence is an error (.ci/run installs it). */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`Chromium not found at ${CHROMIUM} (.ci/run installs it)`);
  return false;
}

/** `launch` is for the fallback test: a browser without WebGPU must be refused. */
export async function openHarness(
  launch: () => Promise<Browser> = launchChromiumWebGpu,
): Promise<Harness> {
  const code = await bundleHarness();
  const server: Server = createServer((req, res) => {
    if (req.url === "/harness.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(code);
    } else if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  try {
    browser = await launch();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(base);
    await page.waitForFunction(() => (window as any).harnessReady === true, null, {
      timeout: 30_000,
    });
    if (errors.length > 0) throw new Error(`page errors: ${errors.join("; ")}`);
    const call = <T>(name: string, ...args: unknown[]) =>
      page.evaluate(
        ([n, a]) => (window as any).harness[n as string](...(a as unknown[])),
        [name, args],
      ) as Promise<T>;
    const started = await call<{ devices: string[]; adapter: Harness["adapter"] }>("start");
    if (!started.devices.includes("webgpu") || started.adapter === null) {
      throw new Error(
        `WebGPU is not available in the page (devices: ${started.devices.join(", ")}): ` +
          "the suite refuses to run on a wasm fallback",
      );
    }
    return { page, ...started, call, close };
  } catch (error) {
    await close();
    throw error;
  }
}
