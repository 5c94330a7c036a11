/**
 * The playground page: wires the form, the charts and the URL contract (url.ts) to a
 * PlaygroundRun (run.ts). WebGPU is used when the browser offers it, else wasm, and the page says
 * which. Text comes from the server's corpus slices (`corpus/<name>.txt`, served by
 * `rankwise playground` from the bundled npm corpora) or a text file dropped on the page.
 */
import { defaultDevice, init as jaxInit } from "@jax-js/jax";
import { type BlobLike, modelFromFiles } from "../browser/model-files.js";
import * as tree from "../engine/tree.js";
import { LLAMA_PRESETS, type LlamaPreset } from "../nn/llama-config.js";
import { getOptimizer, optimizerNames } from "../train/registry.js";
import { LineChart, RaceChart } from "./chart.js";
import { type BaseModel, LoraRun } from "./finetune.js";
import { readOptions, renderOptions } from "./form.js";
import { PlaygroundRun, type RunSpec, webgpuProblem } from "./run.js";
import { CORPUS_NAMES, parseUrl } from "./url.js";
import { storedZip } from "./zip.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

type Backend = "webgpu" | "wasm";
let backend: Backend = "wasm";
let run: PlaygroundRun | null = null;
let running = false;
let stopRequested = false;
let dropped: { name: string; text: string } | null = null;
const svg = (id: string) => document.getElementById(id) as unknown as SVGSVGElement;
const charts = {
  loss: new LineChart(svg("chart-loss"), "loss"),
  lr: new LineChart(svg("chart-lr"), "learning rate"),
  tps: new LineChart(svg("chart-tps"), "tokens/s"),
};
let loraRun: LoraRun | null = null;
/** The Hugging Face folder picked or dropped (the page keeps it; each fine-tune borrows it). */
let folderBase: BaseModel | null = null;
const ftChart = new LineChart(svg("chart-ft"), "fine-tuning loss");

/** Start jax-js; WebGPU when offered (or asked for), else wasm. */
async function startBackend(requested?: Backend): Promise<Backend> {
  const devices = await jaxInit("wasm", "webgpu");
  const chosen: Backend = requested ?? (devices.includes("webgpu") ? "webgpu" : "wasm");
  if (!devices.includes(chosen)) {
    throw new Error(
      `backend ${chosen} is not available in this browser (available: ${devices.join(", ")})`,
    );
  }
  defaultDevice(chosen);
  $("backend").textContent =
    chosen === "webgpu"
      ? "Running on WebGPU."
      : `Running on wasm${devices.includes("webgpu") ? " (WebGPU available)" : " (this browser offers no WebGPU)"}.`;
  return chosen;
}

/** A wasm read resolves at once: give clicks and painting a turn every ~30 ms of training. */
let lastYield = 0;
async function yieldToPage(): Promise<void> {
  if (performance.now() - lastYield < 30) return;
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  lastYield = performance.now();
}

async function loadText(corpus: string): Promise<string> {
  if (corpus === "dropped") {
    if (dropped === null) throw new Error("drop a text file on the page first");
    return dropped.text;
  }
  const res = await fetch(`corpus/${corpus}.txt`);
  if (!res.ok)
    throw new Error(
      `corpus ${corpus}: the server answered ${res.status} (serve the page with rankwise playground, or drop a text file)`,
    );
  return res.text();
}

function fillSelect(sel: HTMLSelectElement, values: readonly string[], chosen: string): void {
  sel.replaceChildren(...values.map((v) => new Option(v, v, v === chosen, v === chosen)));
}

function say(message: string): void {
  $("status").textContent = message;
}

function showError(error: unknown): void {
  const message = (error as Error)?.message ?? String(error);
  $("error").textContent = message;
  say("stopped");
}

async function specFromForm(): Promise<RunSpec> {
  const optimizer = $<HTMLSelectElement>("optimizer").value;
  const options = readOptions($("options"), optimizer);
  if (backend === "webgpu") {
    const problem = webgpuProblem(optimizer, options);
    if (problem) throw new Error(problem);
  }
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  const positiveInt = (id: string) => {
    const v = num(id);
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${id} must be a positive integer`);
    return v;
  };
  const learningRate = num("lr");
  if (!(learningRate > 0)) throw new RangeError("learning rate must be a positive number");
  return {
    preset: $<HTMLSelectElement>("model").value as LlamaPreset,
    text: await loadText($<HTMLSelectElement>("corpus").value),
    optimizer,
    options,
    learningRate,
    steps: positiveInt("steps"),
    batchSize: positiveInt("batch"),
    seqLen: positiveInt("seq"),
    seed: 0,
  };
}

/** Train until the run is done or Stop is pressed; samples text every `sampleEvery` steps. */
async function loop(): Promise<void> {
  if (run === null || running) return;
  running = true;
  stopRequested = false;
  $<HTMLButtonElement>("stop").disabled = false;
  $<HTMLButtonElement>("resume").disabled = true;
  $<HTMLButtonElement>("download").disabled = true; // the parameters change under a download
  const sampleEvery = Math.min(50, Math.max(10, Math.ceil(run.spec.steps / 5)));
  try {
    while (!run.done && !stopRequested) {
      const info = await run.trainStep();
      await yieldToPage();
      charts.loss.push(info.loss);
      charts.lr.push(info.learningRate);
      if (info.step > 0) charts.tps.push(info.tokensPerSec); // step 0 compiles
      say(`step ${run.step}/${run.spec.steps} · loss ${info.loss.toFixed(3)}`);
      if (run.step % sampleEvery === 0 || run.done) {
        const text = await run.sample("\n", 60, run.step);
        const p = document.createElement("p");
        p.textContent = `step ${run.step}: ${text}`;
        $("samples").prepend(p);
      }
    }
    say(run.done ? `done: ${run.step} steps` : `stopped at step ${run.step} (Resume continues)`);
  } catch (error) {
    showError(error);
  } finally {
    running = false;
    $<HTMLButtonElement>("stop").disabled = true;
    $<HTMLButtonElement>("resume").disabled = run === null || run.done;
    $<HTMLButtonElement>("download").disabled = run === null;
  }
}

async function start(): Promise<void> {
  if (running) return;
  $("error").textContent = "";
  try {
    const spec = await specFromForm();
    run?.dispose();
    run = null;
    for (const c of Object.values(charts)) c.clear();
    $("samples").replaceChildren();
    say("building the model…");
    run = new PlaygroundRun(spec);
  } catch (error) {
    showError(error);
    return;
  }
  await loop();
}

/**
 * Several optimizers on the same model, data, seed and steps, each at its registry defaults,
 * stepped in turn (one step each per round), their losses on one chart.
 */
async function race(): Promise<void> {
  if (running) return;
  $("error").textContent = "";
  const names = $<HTMLInputElement>("race")
    .value.split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  const runs: PlaygroundRun[] = [];
  running = true;
  stopRequested = false;
  $<HTMLButtonElement>("stop").disabled = false;
  try {
    if (names.length < 2)
      throw new RangeError("race: name two optimizers or more, separated by commas");
    const base = await specFromForm();
    for (const name of names) {
      const entry = getOptimizer(name); // throws, listing the accepted names
      const problem = backend === "webgpu" ? webgpuProblem(name, {}) : null;
      if (problem) throw new Error(problem);
      runs.push(
        new PlaygroundRun({
          ...base,
          optimizer: name,
          options: {},
          learningRate: entry.defaultLearningRate,
        }),
      );
    }
    const chart = new RaceChart(svg("chart-race"), names);
    while (!runs[0].done && !stopRequested) {
      for (const [i, r] of runs.entries()) {
        chart.push(names[i], (await r.trainStep()).loss);
        await yieldToPage();
      }
      say(`race: step ${runs[0].step}/${base.steps}`);
    }
    say(runs[0].done ? `race done: ${runs[0].step} steps` : `race stopped at step ${runs[0].step}`);
  } catch (error) {
    showError(error);
  } finally {
    for (const r of runs) r.dispose();
    running = false;
    $<HTMLButtonElement>("stop").disabled = true;
  }
}

/** Download the current run's model as a zipped Hugging Face folder. */
async function download(): Promise<void> {
  if (run === null) return;
  try {
    const name = `rankwise-${run.spec.preset}-${run.spec.optimizer}-step${run.step}`;
    saveBlob(`${name}.zip`, storedZip(name, await run.modelFiles()));
  } catch (error) {
    showError(error);
  }
}

const kib = (bytes: number) =>
  bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;

/** A picked or dropped folder: its own files by name (subfolders' files are left out). */
async function loadFolder(files: File[]): Promise<void> {
  const byName: Record<string, BlobLike> = {};
  let folder = "folder";
  for (const f of files) {
    const parts = (f.webkitRelativePath || f.name).split("/");
    if (parts.length > 2) continue;
    if (parts.length === 2) folder = parts[0];
    byName[parts.at(-1)!] = f;
  }
  const status = $("ft-folder-status");
  try {
    if (folderBase !== null) tree.dispose(folderBase.params);
    folderBase = null;
    const model = await modelFromFiles(byName, (name, done, total) => {
      status.textContent = `reading ${folder}: tensor ${done}/${total} (${name})`;
    });
    if (model.tokenizer === null) {
      tree.dispose(model.params);
      throw new Error(`${folder} has no tokenizer.json`);
    }
    folderBase = { ...model, tokenizer: model.tokenizer, source: folder };
    $<HTMLSelectElement>("ft-base").value = "folder";
    const count = tree.size(model.params);
    status.textContent =
      `${folder}: ${count.toLocaleString("en")} parameters (${kib(model.fileBytes)} of weight files, ` +
      `read one tensor at a time: at most ${kib(model.largestTensorBytes)} at once)`;
    document.body.dataset.folder = folder;
  } catch (error) {
    status.textContent = "";
    showError(error);
  }
}

/** The files of a dropped folder's entry (top level only), or null when it is not a folder. */
async function droppedFolder(entry: FileSystemEntry | null | undefined): Promise<File[] | null> {
  if (!entry?.isDirectory) return null;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const entries: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) break;
    entries.push(...batch);
  }
  const files = entries
    .filter((x): x is FileSystemFileEntry => x.isFile)
    .map((x) => new Promise<File>((ok, fail) => x.file(ok, fail)));
  return Promise.all(files);
}

async function fineTune(): Promise<void> {
  if (running) return;
  $("error").textContent = "";
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  running = true;
  stopRequested = false;
  $<HTMLButtonElement>("ft-stop").disabled = false;
  $<HTMLButtonElement>("ft-download").disabled = true;
  try {
    let base: BaseModel;
    if ($<HTMLSelectElement>("ft-base").value === "folder") {
      if (folderBase === null) throw new Error("pick or drop a Hugging Face folder first");
      base = { ...folderBase, params: tree.ref(folderBase.params) };
    } else {
      if (run === null)
        throw new Error("train a model above first (or pick a Hugging Face folder)");
      base = {
        config: run.config,
        params: run.paramsRef(),
        tokenizer: run.tokenizer,
        source: `rankwise-${run.spec.preset}-${run.spec.optimizer}-step${run.step}`,
      };
    }
    const positive = (id: string, what: string, integer: boolean) => {
      const v = num(id);
      if (!(v > 0) || (integer && !Number.isInteger(v)))
        throw new RangeError(`${what} must be a positive ${integer ? "integer" : "number"}`);
      return v;
    };
    const spec = {
      text: await loadText($<HTMLSelectElement>("corpus").value),
      r: positive("ft-rank", "rank", true),
      alpha: positive("ft-alpha", "alpha", false),
      targetModules: $<HTMLInputElement>("ft-targets")
        .value.split(",")
        .map((t) => t.trim())
        .filter((t) => t !== ""),
      steps: positive("ft-steps", "fine-tuning steps", true),
      learningRate: positive("ft-lr", "fine-tuning learning rate", false),
      batchSize: positive("batch", "batch", true),
      seqLen: positive("seq", "sequence", true),
      seed: 0,
    };
    loraRun?.dispose();
    loraRun = null;
    ftChart.clear();
    try {
      loraRun = new LoraRun(base, spec);
    } catch (error) {
      tree.dispose(base.params);
      throw error;
    }
    const r = loraRun;
    const m = r.memory();
    $("ft-memory").textContent =
      `on the device: base ${kib(m.base)} (frozen: no gradient, no optimizer state) · ` +
      `adapter ${kib(m.adapter)} · AdamW state ${kib(m.optimizerState)} (the adapter's only)`;
    while (!r.done && !stopRequested) {
      const loss = await r.trainStep();
      await yieldToPage();
      ftChart.push(loss);
      $("ft-status").textContent = `step ${r.step}/${spec.steps} · loss ${loss.toFixed(3)}`;
    }
    $("ft-status").textContent = r.done
      ? `fine-tuned: ${r.step} steps`
      : `stopped at step ${r.step}`;
  } catch (error) {
    showError(error);
  } finally {
    running = false;
    $<HTMLButtonElement>("ft-stop").disabled = true;
    $<HTMLButtonElement>("ft-download").disabled = loraRun === null;
  }
}

/** Download the adapter as PEFT's two files, zipped. */
async function downloadAdapter(): Promise<void> {
  if (loraRun === null) return;
  try {
    const name = `rankwise-lora-r${loraRun.spec.r}-step${loraRun.step}`;
    saveBlob(`${name}.zip`, storedZip(name, await loraRun.files()));
  } catch (error) {
    showError(error);
  }
}

function saveBlob(fileName: string, zip: Uint8Array): void {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([zip.buffer as ArrayBuffer], { type: "application/zip" }));
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** The URL contract: train without clicks and write the JSON summary into #result. */
async function autorun(spec: RunSpec): Promise<void> {
  const r = new PlaygroundRun(spec);
  run = r;
  const initialLoss = await r.heldLoss();
  let tokens = 0;
  let seconds = 0;
  while (!r.done) {
    const info = await r.trainStep();
    await yieldToPage();
    charts.loss.push(info.loss);
    charts.lr.push(info.learningRate);
    say(`step ${r.step}/${spec.steps} · loss ${info.loss.toFixed(3)}`);
    // Throughput leaves out the first step (jit compilation) when there are others.
    if (info.step > 0 || spec.steps === 1) {
      tokens += spec.batchSize * spec.seqLen;
      seconds += (spec.batchSize * spec.seqLen) / info.tokensPerSec;
    }
  }
  const finalLoss = await r.heldLoss();
  const summary = {
    backend,
    steps: r.step,
    initialLoss,
    finalLoss,
    tokensPerSec: tokens / seconds,
  };
  $("result").textContent = JSON.stringify(summary);
  say(`done: ${r.step} steps`);
}

async function main(): Promise<void> {
  const url = parseUrl(location.search);
  backend = await startBackend(url.backend);
  fillSelect($("model"), LLAMA_PRESETS, url.model ?? "tiny");
  fillSelect($("optimizer"), optimizerNames(), url.optimizer ?? "adamw");
  fillSelect($("corpus"), [...CORPUS_NAMES, "dropped"], url.corpus ?? "moby-dick");
  const setOptimizer = () => {
    const name = $<HTMLSelectElement>("optimizer").value;
    renderOptions($("options"), name);
    $<HTMLInputElement>("lr").value = String(getOptimizer(name).defaultLearningRate);
    $("optimizer-note").textContent = backend === "webgpu" ? (webgpuProblem(name, {}) ?? "") : "";
  };
  $("optimizer").addEventListener("change", setOptimizer);
  setOptimizer();
  if (url.lr !== undefined) $<HTMLInputElement>("lr").value = String(url.lr);
  if (url.steps !== undefined) $<HTMLInputElement>("steps").value = String(url.steps);
  $("start").addEventListener("click", () => void start());
  $("stop").addEventListener("click", () => {
    stopRequested = true;
  });
  $("resume").addEventListener("click", () => void loop());
  $("race-start").addEventListener("click", () => void race());
  $("download").addEventListener("click", () => void download());
  $("ft-start").addEventListener("click", () => void fineTune());
  $("ft-stop").addEventListener("click", () => {
    stopRequested = true;
  });
  $("ft-download").addEventListener("click", () => void downloadAdapter());
  $<HTMLInputElement>("ft-folder").addEventListener("change", (e) => {
    const files = (e.target as HTMLInputElement).files;
    if (files && files.length > 0) void loadFolder(Array.from(files));
  });
  // For automation and tests: the fine-tuned adapter's ΔW per module, as the forward sees it.
  (window as { rankwisePlayground?: unknown }).rankwisePlayground = {
    loraDeltas: () => loraRun?.deltas() ?? null,
    loraMemory: () => loraRun?.memory() ?? null,
  };
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", async (e) => {
    e.preventDefault();
    // The drop's data is readable only now, before any await.
    const entry = e.dataTransfer?.items[0]?.webkitGetAsEntry?.();
    const file = e.dataTransfer?.files[0];
    const folder = await droppedFolder(entry).catch(() => null);
    if (folder !== null) return void loadFolder(folder);
    if (!file) return;
    void file.text().then((text) => {
      dropped = { name: file.name, text };
      $<HTMLSelectElement>("corpus").value = "dropped";
      say(`dropped ${file.name} (${text.length} characters)`);
    });
  });
  document.body.dataset.ready = "1";
  if (url.autorun) {
    const spec = await specFromForm();
    await autorun(spec);
  }
}

main().catch((error) => {
  showError(error);
  if (new URLSearchParams(location.search).get("autorun") === "1") {
    $("result").textContent = JSON.stringify({ error: (error as Error)?.message ?? String(error) });
  }
});
