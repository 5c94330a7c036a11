/**
 * Trees through one safetensors file: same structure (objects vs arrays, key order), same plain
 * leaves (NaN, ±Infinity, -0 included), bit-identical arrays, and no leaks.
 */
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import { isArray, type Tree, dispose as treeDispose, walk } from "../../src/engine/tree.js";
import { decodeSafetensorsHeader, encodeSafetensors } from "../../src/io/safetensors.js";
import { SafetensorsError } from "../../src/io/safetensors-dtypes.js";
import { decodeTree, encodeTree, loadTree, saveTree, TREE_KEY } from "../../src/io/state-file.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import { hexOf } from "./helpers.js";

beforeAll(setup);
const dir = fs.mkdtempSync(join(tmpdir(), "rankwise-state-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const f32 = (values: number[], shape = [values.length]) =>
  np.array(new Float32Array(values), { shape, dtype: np.float32 });

/** A structural fingerprint: kinds, key order, Object.is numbers, array dtype/shape/bytes. */
function fingerprint(x: unknown): unknown {
  if (isArray(x)) return { array: [x.dtype, x.shape, hexOf(x)] };
  if (typeof x === "number") return { number: Object.is(x, -0) ? "-0" : String(x) };
  if (Array.isArray(x)) return { list: x.map(fingerprint) };
  if (typeof x === "object" && x !== null) {
    return { keys: Object.keys(x), values: Object.values(x).map(fingerprint) };
  }
  return x;
}

function sampleTree(): Tree {
  return {
    params: {
      layers: [
        { weight: f32([1, 2, 3, 4, 5, 6], [2, 3]), bias: f32([-0, 0.5, Number.NaN]) },
        { weight: f32([7, 8], [1, 2]), bias: np.zeros([0]) },
      ],
      embed: np.array(new Int32Array([3, -1]), { shape: [2], dtype: np.int32 }),
    },
    opt: {
      count: 3,
      mu: { a: f32([1e-40, -1e-45]) },
      mask: np.array(new Int32Array([1, 0, 1]), { shape: [3], dtype: np.bool }),
      steps: np.array(new Uint32Array([4294967295]), { shape: [], dtype: np.uint32 }),
      wide: f32([1 / 3, 2]).astype(np.float64),
    },
    numbers: [Number.NaN, Infinity, -Infinity, -0, 0, 5e-324, 0.1, Number.MAX_VALUE, -1.5e300],
    plain: [[1, "two ✓", null], true, false, "", [], {}],
    zed: "last",
    b: 1,
    "10": "integer-like key",
    "a.b": f32([9]),
    a: { b: f32([10]) },
  };
}

test("encode → decode rebuilds the same tree and bit-identical arrays", async () => {
  const before = await liveBuffers();
  const tree = sampleTree();
  const want = fingerprint(tree);
  const { tree: back, metadata } = decodeTree(encodeTree(tree, { step: "12" }));
  expect(fingerprint(back)).toEqual(want);
  expect(metadata).toEqual({ step: "12" });
  expect(fingerprint(tree)).toEqual(want); // encode borrowed the tree
  treeDispose(tree);
  treeDispose(back);
  expect(await liveBuffers()).toBe(before);
});

test("tensors are named by their tree paths; colliding paths get a suffix", () => {
  const tree = sampleTree();
  const header = decodeSafetensorsHeader(encodeTree(tree));
  const arrayPaths: string[] = [];
  walk(tree, (leaf, path) => isArray(leaf) && arrayPaths.push(path));
  const names = header.tensors.map((t) => t.name).sort();
  expect(names).toEqual([...arrayPaths.filter((p) => p !== "a.b"), "a.b", "a.b#1"].sort());
  expect(header.metadata[TREE_KEY]).toBeDefined();
  treeDispose(tree);
});

test("trees that are a single array or a single number", () => {
  const a = f32([1, 2]);
  const back = decodeTree(encodeTree(a)).tree as np.Array;
  expect(hexOf(back)).toBe(hexOf(a));
  expect(Object.is(decodeTree(encodeTree(-0)).tree, -0)).toBe(true);
  a.dispose();
  back.dispose();
});

test("leaves a tree cannot hold are TypeErrors naming the path", () => {
  const bad: [unknown, RegExp][] = [
    [{ a: [1, undefined] }, /"a.1" is undefined/],
    [{ f: () => 1 }, /"f" is function/],
    [{ m: new Map() }, /"m" is Map/],
    [{ d: { t: new Float32Array(2) } }, /"d.t" is Float32Array/],
    [{ n: 10n }, /"n" is bigint/],
  ];
  for (const [tree, message] of bad) expect(() => encodeTree(tree as Tree)).toThrow(message);
  expect(() => encodeTree({}, { [TREE_KEY]: "x" })).toThrow(/reserved/);
});

test("damaged or foreign files give SafetensorsErrors and release their arrays", async () => {
  const before = await liveBuffers();
  const a = f32([1, 2]);
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /no "rankwise.tree" metadata: not a Rankwise state file/],
    [{ [TREE_KEY]: "{" }, /rankwise.tree is not valid JSON/],
    [{ [TREE_KEY]: '{"version":2,"root":null}' }, /version 2; this reader knows 1/],
    [{ [TREE_KEY]: '{"version":1,"root":{"tensor":"b"}}' }, /"b" is not in the file/],
    [{ [TREE_KEY]: '{"version":1,"root":null}' }, /tensor "a" is in the file but not in/],
    [{ [TREE_KEY]: '{"version":1,"root":[{"tensor":"a"},{"tensor":"a"}]}' }, /"a" is used twice/],
    [{ [TREE_KEY]: '{"version":1,"root":{"number":"1"}}' }, /unknown number "1"/],
    [{ [TREE_KEY]: '{"version":1,"root":{"x":1,"y":2}}' }, /one tag, got \{x, y\}/],
  ];
  for (const [metadata, message] of cases) {
    const bytes = encodeSafetensors({ a }, metadata);
    expect(() => decodeTree(bytes)).toThrow(message);
    expect(() => decodeTree(bytes)).toThrow(SafetensorsError);
  }
  a.dispose();
  expect(await liveBuffers()).toBe(before);
});

test("saveTree / loadTree through a file, atomically", async () => {
  const before = await liveBuffers();
  const path = join(dir, "state.safetensors");
  const tree = sampleTree();
  await saveTree(path, tree, { note: "x" });
  await saveTree(path, tree, { note: "y" });
  expect(fs.readdirSync(dir)).toEqual(["state.safetensors"]);
  const { tree: back, metadata } = await loadTree(path);
  expect(fingerprint(back)).toEqual(fingerprint(tree));
  expect(metadata).toEqual({ note: "y" });
  treeDispose(tree);
  treeDispose(back);
  await expect(loadTree(join(dir, "missing.safetensors"))).rejects.toThrow(
    /cannot read .*missing.safetensors: ENOENT/,
  );
  fs.writeFileSync(join(dir, "junk"), "nonsense!");
  await expect(loadTree(join(dir, "junk"))).rejects.toThrow(/junk: header length/);
  expect(await liveBuffers()).toBe(before);
});
