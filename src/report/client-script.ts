/**
 * The report's client script as text, ready to inline: the esbuild bundle of client/main.ts that
 * `npm run build` writes next to this module (dist/report/client.bundle.js). Run from source
 * (tests, tsx), or from a build that skipped the bundling step, it is bundled here with esbuild,
 * a devDependency — the same command as package.json's "build:client".
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export const CLIENT_BUNDLE = "client.bundle.js";

let cached: string | undefined;

/** The bundled client script (an IIFE). */
export function clientScript(): string {
  if (cached !== undefined) return cached;
  const bundle = new URL(`./${CLIENT_BUNDLE}`, import.meta.url);
  cached = existsSync(bundle) ? readFileSync(bundle, "utf8") : bundleFromSource();
  return cached;
}

function bundleFromSource(): string {
  const entry = fileURLToPath(new URL("./client/main.ts", import.meta.url));
  if (!existsSync(entry)) {
    throw new Error(`the report's client script is missing: no ${CLIENT_BUNDLE} and no ${entry}`);
  }
  const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
  const result = esbuild.buildSync({
    entryPoints: [entry],
    bundle: true,
    format: "iife",
    target: "es2017",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}
