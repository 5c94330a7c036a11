/**
 * Headless Chromium for the browser tests: Debian's binary (installed by .ci/run), launched with
 * the flags this machine's closed network needs. `launchChromium` has no GPU (pages run on wasm);
 * `launchChromiumWebGpu` offers WebGPU: `--enable-unsafe-webgpu` alone is enough for Debian's
 * Chromium 156 to give a SwiftShader adapter without a GPU (no Vulkan or ANGLE flag needed).
 */
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const COMMON = [
  "--headless",
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const launchChromium = () =>
  chromium.launch({ executablePath: CHROMIUM, args: [...COMMON, "--disable-gpu"] });

export const launchChromiumWebGpu = () =>
  chromium.launch({ executablePath: CHROMIUM, args: [...COMMON, "--enable-unsafe-webgpu"] });
