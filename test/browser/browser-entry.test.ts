/**
 * The browser entry (src/browser.ts, package export "rankwise/browser"): esbuild bundles it for
 * platform=browser with no externals and no `node:` module reached by any import, static or
 * dynamic (the package root, which reads files, is the counter-example the check must catch);
 * and PEFT's adapter files as bytes (src/peft/adapter-bytes.ts, what a page downloads) are the
 * files Node's folder reader reads, tensor for tensor.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { build } from "esbuild";
import { afterAll, expect, test } from "vitest";
import { init } from "../../src/engine/init.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { decodeAdapter, encodeAdapter } from "../../src/peft/adapter-bytes.js";
import { loraConfig } from "../../src/peft/config.js";
import { loadAdapter, saveAdapter, shapesOf } from "../../src/peft/files.js";
import { createAdapter } from "../../src/peft/init.js";

const root = (path: string) => new URL(`../../${path}`, import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "rankwise-browser-entry-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bundle `entry` for browsers; the node: modules any input imports, or the build's errors. */
async function nodeImports(entry: string): Promise<string[]> {
  try {
    const out = await build({
      entryPoints: [root(entry)],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    return Object.values(out.metafile.inputs).flatMap((i) =>
      i.imports.map((m) => m.path).filter((p) => p.startsWith("node:")),
    );
  } catch (error) {
    const errors = (error as { errors?: { text: string }[] }).errors ?? [];
    return errors.map((e) => e.text);
  }
}

test("src/browser.ts bundles for browsers with no node: import; the root does not", async () => {
  expect(await nodeImports("src/browser.ts")).toEqual([]);
  const rootProblems = await nodeImports("src/index.ts");
  expect(rootProblems.some((p) => /node:|"(fs|path|os)"/.test(p))).toBe(true);
}, 60_000);

test('package.json exports "./browser" as the built src/browser.ts', () => {
  const pkg = JSON.parse(readFileSync(root("package.json"), "utf8"));
  expect(pkg.exports["./browser"]).toEqual({
    types: "./dist/browser.d.ts",
    import: "./dist/browser.js",
  });
});

test("an adapter as bytes is the folder saveAdapter writes, and reads back tensor for tensor", async () => {
  await init({ device: "wasm" });
  const config = llamaPreset("tiny", 11);
  const base = initLlama(config, 3);
  const lora = loraConfig({ r: 2, loraAlpha: 4, targetModules: ["q_proj", "v_proj"] });
  const created = createAdapter(base, lora, { seed: 1 });
  // B starts at zero; give it values so that every tensor is checked.
  for (const k of Object.keys(created.params)) {
    if (k.includes("lora_B")) {
      const a = created.params[k];
      created.params[k] = np.ones(a.shape).mul(0.25);
      a.dispose();
    }
  }
  const adapter = { config: created.config, params: created.params };
  const files = await encodeAdapter(adapter);
  await saveAdapter(join(dir, "saved"), adapter);
  for (const [name, bytes] of Object.entries(files)) {
    expect(Buffer.from(bytes).equals(readFileSync(join(dir, "saved", name))), name).toBe(true);
  }
  const fromBytes = decodeAdapter(files, shapesOf(base), "page");
  const fromFolder = await loadAdapter(join(dir, "saved"), shapesOf(base));
  expect(Object.keys(fromBytes.params).sort()).toEqual(Object.keys(adapter.params).sort());
  for (const k of Object.keys(adapter.params)) {
    const want = await adapter.params[k].ref.data();
    expect(await fromBytes.params[k].ref.data(), k).toEqual(want);
    expect(await fromFolder.params[k].ref.data(), k).toEqual(want);
  }
  expect(() => decodeAdapter({ "adapter_config.json": files["adapter_config.json"] }, {})).toThrow(
    "adapter needs adapter_config.json and adapter_model.safetensors",
  );
  tree.dispose([base, adapter.params, fromBytes.params, fromFolder.params]);
}, 60_000);
