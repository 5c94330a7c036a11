/**
 * The README's optimizer example runs as written (against the built package, imported as
 * "rankwise") and prints the state size it promises.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";

test("the README's first TypeScript example runs and prints 120", () => {
  const readme = readFileSync("README.md", "utf8");
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example, "README has a ```ts block").toBeDefined();
  // Inside the package folder, so that "rankwise" resolves to this package (self-reference).
  const dir = join(".tmp", `readme-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "example.mts");
  writeFileSync(file, example!);
  try {
    const run = spawnSync(process.execPath, ["--import", "tsx", file], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim().split("\n").at(-1)).toBe("120");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
