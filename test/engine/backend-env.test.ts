/**
 * RANKWISE_BACKEND in Node (src/engine/init.ts): "wasm" or "webgpu" (Dawn's Node binding, the
 * optional `webgpu` package), anything else one line and exit code 2 at the CLI. Without a
 * usable adapter (no `webgpu` package, or Dawn finds no device, as on this machine) webgpu falls
 * back to wasm with exactly one line on stderr, however often init() runs: Dawn's own native
 * warnings ("Couldn't load Vulkan ...") stay in the child process that probes it, quoted in our
 * line. Each case runs in a fresh process, since the variable is read when the engine starts.
 */
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { expect, test } from "vitest";

const src = (path: string) => pathToFileURL(`${process.cwd()}/src/${path}`).href;

function run(backend: string | undefined, code: string) {
  const env = { ...process.env };
  delete env.RANKWISE_BACKEND;
  if (backend !== undefined) env.RANKWISE_BACKEND = backend;
  const out = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: out.status, stdout: out.stdout.trim(), stderr: out.stderr };
}

const INIT_TWICE = `
  const { init } = await import(${JSON.stringify(src("engine/init.ts"))});
  const first = await init();
  const second = await init();
  console.log(first.device + " " + second.device);
`;

test("webgpu without a usable adapter: wasm, and one line on stderr", () => {
  const out = run("webgpu", INIT_TWICE);
  expect(out.status).toBe(0);
  expect(out.stdout).toBe("wasm wasm");
  const lines = out.stderr.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /^rankwise: RANKWISE_BACKEND=webgpu: (the "webgpu" package \(Dawn's Node binding\) is not installed|Dawn found no usable WebGPU adapter( \(.+\))?); using wasm$/,
  );
});

test("wasm, and unset: wasm without a word", () => {
  for (const backend of ["wasm", undefined]) {
    const out = run(backend, INIT_TWICE);
    expect(out.status).toBe(0);
    expect(out.stdout).toBe("wasm wasm");
    expect(out.stderr).toBe("");
  }
});

test("any other value: one line naming the accepted values, exit code 2 at the CLI", () => {
  const out = run(
    "cuda",
    `const { main } = await import(${JSON.stringify(src("cli/main.ts"))});
     process.exitCode = await main(["node", "rankwise", "eval", "nowhere"]);`,
  );
  expect(out.status).toBe(2);
  expect(out.stderr).toBe('rankwise: RANKWISE_BACKEND must be wasm or webgpu, got "cuda"\n');
});
