/**
 * The library as users install it (issue 8, item 9): `npm pack` the built package, install the
 * tarball into a fresh app next to @jax-js/jax (a peer dependency: one engine for the user's
 * arrays and Rankwise's), type-check the README's examples there under `tsc --strict` with
 * "type": "module", and run the first. Offline: the peer is packed from this repository's node_modules
 * and everything else comes from npm's cache (filled by the repository's own install).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { ROOT, requireBuild } from "./cli/run-cli.js";

const npm = (args: string[], cwd: string) =>
  spawnSync("npm", args, { cwd, encoding: "utf8", timeout: 240_000, env: npmEnv() });

// No registry: a lookup that is not in the cache fails instead of reaching the network.
const npmEnv = () => ({ ...process.env, npm_config_offline: "true", npm_config_audit: "false" });

const app = mkdtempSync(join(tmpdir(), "rankwise-app-"));
afterAll(() => rmSync(app, { recursive: true, force: true }));

function pack(dir: string): string {
  const r = npm(["pack", "--ignore-scripts", "--silent", "--pack-destination", app, dir], ROOT);
  expect(r.status, r.stderr).toBe(0);
  const file = r.stdout.trim().split("\n").at(-1)!;
  expect(existsSync(join(app, file)), file).toBe(true);
  return file;
}

test("the packed package installs with its peer; the README's examples type-check and run", () => {
  requireBuild();
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const jaxVersion = manifest.peerDependencies["@jax-js/jax"];
  expect(manifest.dependencies["@jax-js/jax"]).toBeUndefined();
  expect(manifest.devDependencies["@jax-js/jax"]).toBe(jaxVersion);

  const rankwise = pack(".");
  const jax = pack(join("node_modules", "@jax-js", "jax"));
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({
      name: "rankwise-app",
      private: true,
      type: "module",
      dependencies: { rankwise: `file:${rankwise}`, "@jax-js/jax": `file:${jax}` },
    }),
  );
  // The app's lockfile: the two tarballs, and the repository's own locked production
  // dependencies (same hoisted layout), so npm needs no registry metadata, only cached tarballs.
  const repoLock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
  const locked = Object.entries(repoLock.packages as Record<string, { dev?: boolean }>).filter(
    ([key, entry]) => key.startsWith("node_modules/") && !entry.dev,
  );
  const dependencies = { rankwise: `file:${rankwise}`, "@jax-js/jax": `file:${jax}` };
  writeFileSync(
    join(app, "package-lock.json"),
    JSON.stringify({
      name: "rankwise-app",
      lockfileVersion: 3,
      requires: true,
      packages: {
        "": { name: "rankwise-app", dependencies },
        "node_modules/rankwise": {
          version: manifest.version,
          resolved: `file:${rankwise}`,
          dependencies: manifest.dependencies,
          peerDependencies: manifest.peerDependencies,
          bin: manifest.bin,
        },
        "node_modules/@jax-js/jax": { version: jaxVersion, resolved: `file:${jax}` },
        ...Object.fromEntries(locked),
      },
    }),
  );
  const install = npm(["ci", "--no-fund"], app);
  expect(install.status, install.stderr + install.stdout).toBe(0);
  // One engine: the package uses the app's @jax-js/jax, it has no copy of its own.
  expect(existsSync(join(app, "node_modules", "rankwise", "node_modules", "@jax-js"))).toBe(false);
  expect(readdirSync(join(app, "node_modules", "rankwise"))).toContain("dist");

  // Every ```ts block of the README type-checks; the first one also runs.
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(examples.length, "README has ```ts blocks").toBeGreaterThan(0);
  const names = examples.map((_, i) => (i === 0 ? "example.ts" : `example-${i + 1}.ts`));
  for (const [i, code] of examples.entries()) writeFileSync(join(app, names[i]!), code);
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2023", "DOM"],
        types: [],
        // As `tsc --init` sets it: @jax-js/jax's own declarations need WebGPU and ESNext types.
        skipLibCheck: true,
        outDir: "out",
      },
      files: names,
    }),
  );
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const check = spawnSync(process.execPath, [tsc, "-p", app], { encoding: "utf8" });
  expect(check.status, check.stdout + check.stderr).toBe(0);

  const run = execFileSync(process.execPath, [join(app, "out", "example.js")], {
    cwd: app,
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(run.trim().split("\n").at(-1)).toBe("120");

  // The command line starts from the install too.
  const bin = join(app, "node_modules", ".bin", "rankwise");
  const version = spawnSync(bin, ["--version"], { cwd: app, encoding: "utf8" });
  expect(version.status, version.stderr).toBe(0);
  expect(version.stdout.trim()).toBe(manifest.version);
  const args = ["train", "--model", "tiny", "--seq-len", "16", "--batch-size", "4", "--steps", "2"];
  const train = spawnSync(bin, [...args, "--quiet", "--out", join(app, "run")], {
    cwd: app,
    encoding: "utf8",
    timeout: 120_000,
  });
  expect(train.status, train.stderr).toBe(0);
  // The report inlines the bundled client script shipped in dist/.
  const report = readFileSync(join(app, "run", "report.html"), "utf8");
  expect(report).toContain(readFileSync(join(ROOT, "dist", "report", "client.bundle.js"), "utf8"));
}, 300_000);

test("no dependency's install script is left unreviewed (npm ci prints no warning)", () => {
  const r = npm(["install-scripts", "ls"], ROOT);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/No packages with unreviewed install scripts/);
});
