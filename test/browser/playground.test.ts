/**
 * The playground (src/playground, served by `rankwise playground`) in headless Chromium: the URL
 * contract on both backends (webgpu on SwiftShader and wasm: the backend reported is the one
 * asked for, and the held-out loss after training is below the one before), and the page driven
 * as a person would: pick an optimizer, start, watch the loss chart grow, stop, resume, download
 * the model (a zipped Hugging Face folder, checked by Python's zipfile and the library's readers);
 * and a LoRA fine-tune on WebGPU of a Hugging Face folder picked as a person would (a sharded
 * tiny LLaMA written by hf-folder.ts), its adapter downloaded and read back by Node's PEFT reader.
 * The app is bundled from src/ by esbuild into a temporary folder (as `npm run build` does into
 * dist/playground) and served by the CLI's own server.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type PlaygroundServer, servePlayground } from "../../src/cli/playground.js";
import { charByteFromHfJson } from "../../src/data/tokenizer-hf-json.js";
import { init } from "../../src/engine/init.js";
import { decodeSafetensorsHeader } from "../../src/io/safetensors.js";
import { llamaParamCount, llamaParamShapes } from "../../src/nn/llama.js";
import { fromHfConfig } from "../../src/nn/llama-config.js";
import { readAdapterDelta } from "../../src/peft/delta.js";
import { launchChromium, launchChromiumWebGpu } from "../helpers/chromium.js";
import { closeness } from "../helpers/engine.js";
import { writeHfFolder } from "./hf-folder.js";
import { chromiumAvailable } from "./session.js";

const enabled = chromiumAvailable();
const SRC = new URL("../../src/playground/", import.meta.url).pathname;
let dir: string;
let served: PlaygroundServer;
/** Written only with RANKWISE_SCREENSHOTS=1 (it is a tracked file). */
const SCREENSHOT = new URL("../../docs/images/playground.png", import.meta.url).pathname;
const LORA_SCREENSHOT = new URL("../../docs/images/playground-lora.png", import.meta.url).pathname;
const summaries: Partial<Record<"webgpu" | "wasm", Summary>> = {};

interface Summary {
  backend: string;
  steps: number;
  initialLoss: number;
  finalLoss: number;
  tokensPerSec: number;
}

beforeAll(async () => {
  if (!enabled) return;
  dir = mkdtempSync(join(tmpdir(), "rankwise-playground-"));
  await build({
    entryPoints: [join(SRC, "main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    // No externals: the app imports only modules without node: imports (src/browser.ts's).
    outfile: join(dir, "playground.js"),
    logLevel: "warning",
  });
  copyFileSync(join(SRC, "index.html"), join(dir, "index.html"));
  served = await servePlayground({ port: 0, host: "127.0.0.1", root: dir });
}, 60_000);

afterAll(async () => {
  await served?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function withPage<T>(launch: () => Promise<Browser>, fn: (page: Page) => Promise<T>) {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const out = await fn(page);
    expect(errors).toEqual([]);
    return out;
  } finally {
    await browser.close();
  }
}

async function autorun(backend: "webgpu" | "wasm"): Promise<Summary> {
  return withPage(launchChromiumWebGpu, async (page) => {
    await page.goto(
      `${served.url}?autorun=1&steps=12&optimizer=adamw&model=tiny&backend=${backend}`,
    );
    await page.waitForFunction(() => document.getElementById("result")?.textContent !== "", null, {
      timeout: 90_000,
    });
    return JSON.parse((await page.textContent("#result")) ?? "");
  });
}

/**
 * The zip is checked by Python's zipfile (CRCs included), then its files by the library's readers:
 * every LLaMA tensor of the config's shapes, and a tokenizer whose vocabulary is the config's.
 */
function checkModelZip(path: string): void {
  const files = unzip(path);
  expect(Object.keys(files).sort()).toEqual(["config.json", "model.safetensors", "tokenizer.json"]);
  const config = fromHfConfig(JSON.parse(files["config.json"].toString("utf8")));
  const header = decodeSafetensorsHeader(new Uint8Array(files["model.safetensors"]));
  const shapes = Object.fromEntries(header.tensors.map((t) => [t.name, t.shape]));
  expect(shapes).toEqual(llamaParamShapes(config));
  const tokenizer = charByteFromHfJson(JSON.parse(files["tokenizer.json"].toString("utf8")));
  expect(tokenizer?.vocabSize).toBe(config.vocab_size);
}

/** A zip's files (without the zip's top folder), read and CRC-checked by Python's zipfile. */
function unzip(path: string): Record<string, Buffer> {
  const py = spawnSync(
    "python3",
    [
      "-c",
      "import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n" +
        "print(json.dumps({n.split('/', 1)[1]: z.read(n).hex() for n in z.namelist()}))",
      path,
    ],
    { encoding: "utf8", maxBuffer: 1 << 28 },
  );
  expect(py.status, py.stderr).toBe(0);
  return Object.fromEntries(
    Object.entries(JSON.parse(py.stdout) as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, "hex"),
    ]),
  );
}

describe.skipIf(!enabled)("playground (Chromium)", () => {
  test.each(["webgpu", "wasm"] as const)(
    "autorun contract on %s: the backend asked for, the held-out loss goes down",
    async (backend) => {
      const s = await autorun(backend);
      expect(Object.keys(s).sort()).toEqual(
        ["backend", "finalLoss", "initialLoss", "steps", "tokensPerSec"].sort(),
      );
      expect(s.backend).toBe(backend);
      expect(s.steps).toBe(12);
      // Untrained, a character model's loss is near ln(vocabulary) (Moby Dick's slice: ~80).
      expect(s.initialLoss).toBeGreaterThan(Math.log(40));
      expect(s.finalLoss).toBeLessThan(s.initialLoss);
      expect(s.tokensPerSec).toBeGreaterThan(0);
      summaries[backend] = s;
      console.log(`playground ${backend}: ${JSON.stringify(s)}`);
    },
    120_000,
  );

  test("both backends train the same numbers (same seed and data): losses agree to 1e-4", () => {
    const { webgpu, wasm } = summaries;
    if (!webgpu || !wasm) throw new Error("an autorun test above failed");
    for (const k of ["initialLoss", "finalLoss"] as const) {
      expect(Math.abs(webgpu[k] - wasm[k])).toBeLessThanOrEqual(1e-4 * wasm[k]);
    }
  });

  test("a bad URL parameter is one line naming it and the accepted values", async () => {
    const text = await withPage(launchChromium, async (page) => {
      await page.goto(`${served.url}?autorun=1&steps=3&backend=cuda`);
      await page.waitForFunction(() => document.getElementById("result")?.textContent !== "");
      return (await page.textContent("#result")) ?? "";
    });
    expect(JSON.parse(text)).toEqual({ error: 'backend must be webgpu or wasm, got "cuda"' });
  }, 60_000);

  test("as a person: pick an optimizer, start, the chart grows, stop, resume, download the model", async () => {
    // No WebGPU in this browser: the page says it runs on wasm.
    await withPage(launchChromium, async (page) => {
      await page.goto(served.url);
      await page.waitForSelector("body[data-ready='1']", { timeout: 60_000 });
      expect(await page.textContent("#backend")).toMatch(/wasm/);
      await page.selectOption("#optimizer", "lion");
      // The form follows the registry: lion's options and its default learning rate.
      expect(await page.inputValue("#lr")).toBe("0.0003");
      expect(await page.locator("#options input[name='b2']").count()).toBe(1);
      await page.fill("#steps", "2000");
      await page.fill("#batch", "2");
      await page.fill("#seq", "16");
      await page.click("#start");
      const points = () => page.getAttribute("#chart-loss", "data-points").then(Number);
      await page.waitForFunction(
        () => Number(document.getElementById("chart-loss")?.dataset.points ?? 0) >= 3,
        null,
        { timeout: 60_000 },
      );
      const before = await points();
      await page.waitForFunction(
        (n) => Number(document.getElementById("chart-loss")?.dataset.points ?? 0) > n,
        before,
      );
      await page.click("#stop");
      await page.waitForSelector("#resume:not([disabled])");
      expect(await page.textContent("#status")).toMatch(/stopped at step \d+/);
      const stopped = await points();
      await page.waitForTimeout(300);
      expect(await points()).toBe(stopped); // stopped means stopped
      expect(stopped).toBeLessThan(2000);
      await page.click("#resume");
      await page.waitForFunction(
        (n) => Number(document.getElementById("chart-loss")?.dataset.points ?? 0) > n,
        stopped,
      );
      if (process.env.RANKWISE_SCREENSHOTS === "1") {
        // docs/playground.md's picture: once a text sample has appeared.
        await page.waitForSelector("#samples p", { timeout: 60_000 });
        await page.setViewportSize({ width: 1100, height: 760 });
        await page.screenshot({ path: SCREENSHOT });
      }
      await page.click("#stop");
      await page.waitForSelector("#resume:not([disabled])");
      // Download: a zipped Hugging Face folder of the model as trained so far.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#download"),
      ]);
      const zipPath = join(dir, "model.zip");
      await download.saveAs(zipPath);
      checkModelZip(zipPath);
    });
  }, 120_000);

  test("a race: two optimizers step in turn on one chart, Stop ends it", async () => {
    await withPage(launchChromium, async (page) => {
      await page.goto(served.url);
      await page.waitForSelector("body[data-ready='1']", { timeout: 60_000 });
      await page.fill("#steps", "2000");
      await page.fill("#batch", "2");
      await page.fill("#seq", "16");
      await page.fill("#race", "adamw, lion");
      await page.click("#race-start");
      await page.waitForFunction(
        () => {
          const c = JSON.parse(document.getElementById("chart-race")?.dataset.points ?? "{}");
          return c.adamw >= 3 && c.lion >= 3;
        },
        null,
        { timeout: 60_000 },
      );
      await page.click("#stop");
      await page.waitForFunction(() =>
        /race stopped at step/.test(document.getElementById("status")?.textContent ?? ""),
      );
      const counts = JSON.parse((await page.getAttribute("#chart-race", "data-points")) ?? "{}");
      // One step each per round: the counts differ by at most one.
      expect(Math.abs(counts.adamw - counts.lion)).toBeLessThanOrEqual(1);
      await page.fill("#race", "adamw, nosuch");
      await page.click("#race-start");
      await page.waitForFunction(() => document.getElementById("error")?.textContent !== "");
      expect(await page.textContent("#error")).toMatch(
        /^unknown optimizer "nosuch" \(accepted: .*adamw/,
      );
    });
  }, 120_000);
});

describe.skipIf(!enabled)("playground LoRA on a Hugging Face folder (Chromium, WebGPU)", () => {
  test("pick the folder, fine-tune on WebGPU, download: Node's PEFT reader gives the page's ΔW", async () => {
    await init({ device: "wasm" }); // Node's side: writing the folder, reading the adapter
    const hfRoot = mkdtempSync(join(tmpdir(), "rankwise-hf-folder-"));
    const hfDir = join(hfRoot, "tiny-llama"); // the name the page shows
    writeHfFolder(hfDir);
    const config = fromHfConfig(JSON.parse(readFileSync(join(hfDir, "config.json"), "utf8")));
    const count = llamaParamCount(config).toLocaleString("en");
    const largest = (config.vocab_size * config.hidden_size * 4) / 1024; // the embedding, KiB
    const adapterDir = join(dir, "adapter");
    const page = await withPage(launchChromiumWebGpu, async (page) => {
      await page.goto(served.url);
      await page.waitForSelector("body[data-ready='1']", { timeout: 60_000 });
      expect(await page.textContent("#backend")).toMatch(/WebGPU/);
      await page.setInputFiles("#ft-folder", hfDir);
      await page.waitForSelector("body[data-folder]", { timeout: 60_000 });
      expect(await page.textContent("#ft-folder-status")).toContain(`: ${count} parameters (`);
      expect(await page.textContent("#ft-folder-status")).toContain(
        `read one tensor at a time: at most ${largest.toFixed(1)} KiB at once)`,
      );
      await page.fill("#batch", "2");
      await page.fill("#seq", "16");
      await page.fill("#ft-steps", "6");
      await page.fill("#ft-lr", "0.01");
      await page.fill("#ft-rank", "4");
      await page.fill("#ft-alpha", "8");
      await page.click("#ft-start");
      await page.waitForFunction(
        () => /fine-tuned: 6 steps/.test(document.getElementById("ft-status")?.textContent ?? ""),
        null,
        { timeout: 120_000 },
      );
      expect(await page.textContent("#error")).toBe("");
      if (process.env.RANKWISE_SCREENSHOTS === "1") {
        await page.setViewportSize({ width: 1100, height: 1200 });
        await page.locator("#finetune").screenshot({ path: LORA_SCREENSHOT });
      }
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#ft-download"),
      ]);
      await download.saveAs(join(dir, "adapter.zip"));
      return page.evaluate(async () => {
        const pg = (window as any).rankwisePlayground;
        return { deltas: await pg.loraDeltas(), memory: pg.loraMemory() };
      }) as Promise<{ deltas: Record<string, number[]>; memory: Record<string, number> }>;
    });
    // The frozen base has no optimizer state: AdamW's two moments cover the adapter only.
    const { base, adapter, optimizerState } = page.memory;
    expect(optimizerState).toBeGreaterThanOrEqual(2 * adapter);
    expect(optimizerState).toBeLessThan(2 * adapter + 64);
    expect(base).toBeGreaterThan(optimizerState);
    // The zip holds PEFT's two files; Node's folder reader reads them.
    const files = unzip(join(dir, "adapter.zip"));
    expect(Object.keys(files).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    mkdirSync(adapterDir);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(adapterDir, name), bytes);
    const delta = await readAdapterDelta(adapterDir, llamaParamShapes(config));
    expect(delta.modules.map((m) => m.name).sort()).toEqual(Object.keys(page.deltas).sort());
    expect(delta.modules.map((m) => m.name)).toHaveLength(4); // q_proj and v_proj of 2 layers
    for (const m of delta.modules) {
      const fromFile = Array.from((await delta.delta(m.name).data()) as Float32Array);
      const inPage = page.deltas[m.name];
      // Trained: B left zero, so ΔW is not the trivial zero of a fresh adapter.
      expect(Math.max(...inPage.map(Math.abs)), m.name).toBeGreaterThan(1e-4);
      expect(closeness(inPage, fromFile, 1e-4, 1e-6).ratio, m.name).toBeLessThanOrEqual(1);
    }
    delta.dispose();
    rmSync(hfRoot, { recursive: true, force: true });
  }, 180_000);
});

test("rankwise playground: a bad --port is one line and exit 2", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      "import('./src/cli/main.ts').then(async m => process.exit(await m.main(['node','rankwise','playground','--port','http'])))",
    ],
    { encoding: "utf8" },
  );
  expect(r.status).toBe(2);
  expect(r.stderr.trim()).toBe('rankwise: --port must be an integer from 0 to 65535, got "http"');
}, 60_000);
