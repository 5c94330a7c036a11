/**
 * The API reference docs/api/ is generated from the declarations (typedoc + its markdown plugin,
 * configured in typedoc.json, entry src/index.ts) and committed. This runs typedoc into a
 * temporary folder and checks that (1) it reports nothing: typedoc.json makes an undocumented
 * public name, a public signature naming an unexported type and a broken {@link} errors, and
 * (2) the committed pages are exactly the generated ones. After changing the API or its TSDoc:
 * `npm run docs:api`, and commit docs/api/.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";

const COMMITTED = "docs/api";

/** Every file under `dir`, as sorted relative paths. */
const files = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();

test("typedoc documents every public name, and docs/api is what it generates", () => {
  const out = mkdtempSync(join(tmpdir(), "rankwise-api-"));
  try {
    const run = spawnSync(
      process.execPath,
      ["node_modules/typedoc/bin/typedoc", "--out", out, "--logLevel", "Warn"],
      { encoding: "utf8", timeout: 110_000 },
    );
    expect(run.status, `typedoc reported problems:\n${run.stdout}${run.stderr}`).toBe(0);
    const stale = "docs/api is out of date: run `npm run docs:api` and commit docs/api/";
    expect(files(COMMITTED), stale).toEqual(files(out));
    for (const file of files(out)) {
      const generated = readFileSync(join(out, file), "utf8");
      expect(readFileSync(join(COMMITTED, file), "utf8") === generated, `${stale} (${file})`).toBe(
        true,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
