/**
 * Any tree (parameters, optimizer state, checkpoints; see src/engine/tree.ts) as one safetensors
 * file. Array leaves become tensors named by their tree path ("layers.0.weight"; a path that is
 * empty, "__metadata__" or already taken gets a "#k" suffix). The structure and the plain leaves
 * are JSON under the metadata key "rankwise.tree":
 *   {"version": 1, "root": node}
 *   node := null | true | false | "string" | finite number
 *         | {"number": "NaN" | "Infinity" | "-Infinity" | "-0"}   (numbers JSON cannot hold)
 *         | {"tensor": "<name>"} | [node, ...] | {"object": {key: node, ...}}
 * so decoding rebuilds the same objects and arrays with the same key order, the same numbers
 * (JSON numbers round-trip float64 exactly) and bit-identical arrays (dtypes kept; float16 needs
 * a runtime with Float16Array). An array object appearing twice is stored twice.
 * Node file access is imported lazily, so encodeTree/decodeTree also run in browsers.
 */
import type { numpy as np } from "@jax-js/jax";
import { isArray, type Tree } from "../engine/tree.js";
import {
  decodeSafetensors,
  encodeSafetensors,
  encodeSafetensorsAsync,
  SafetensorsError,
} from "./safetensors.js";

/** Metadata key holding the tree's structure. */
export const TREE_KEY = "rankwise.tree";
const VERSION = 1;

type Node = null | boolean | string | number | Node[] | { [tag: string]: unknown };

const SPECIAL: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
  "-0": -0,
};

const isPlainObject = (x: object): boolean => {
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
};

function describe(x: unknown): string {
  if (typeof x !== "object" || x === null) return typeof x;
  return x.constructor?.name ?? "object";
}

/** Split a tree into its JSON structure and its arrays (by tensor name). Borrows. */
function flatten(tree: Tree): { root: Node; arrays: Record<string, np.Array> } {
  const arrays = new Map<string, np.Array>();
  const name = (path: string) => {
    let candidate = path;
    for (
      let k = 1;
      candidate === "" || candidate === "__metadata__" || arrays.has(candidate);
      k++
    ) {
      candidate = `${path}#${k}`;
    }
    return candidate;
  };
  const visit = (x: unknown, path: string): Node => {
    const child = (key: string | number) => (path ? `${path}.${key}` : String(key));
    if (x === null || typeof x === "boolean" || typeof x === "string") return x;
    if (typeof x === "number") {
      if (Number.isFinite(x) && !Object.is(x, -0)) return x;
      return { number: Object.is(x, -0) ? "-0" : String(x) };
    }
    if (isArray(x)) {
      const tensor = name(path);
      arrays.set(tensor, x);
      return { tensor };
    }
    if (Array.isArray(x)) {
      const out: Node[] = [];
      for (let i = 0; i < x.length; i++) out.push(visit(x[i], child(i)));
      return out;
    }
    if (typeof x === "object" && isPlainObject(x)) {
      const entries = Object.entries(x).map(([k, v]) => [k, visit(v, child(k))]);
      return { object: Object.fromEntries(entries) };
    }
    throw new TypeError(
      `tree leaf "${path}" is ${describe(x)}; trees hold plain objects, arrays, jax-js arrays, numbers, strings, booleans and null`,
    );
  };
  const root = visit(tree, "");
  return { root, arrays: Object.fromEntries(arrays) };
}

function metadataFor(tree: Tree, extra: Record<string, string> = {}) {
  if (Object.hasOwn(extra, TREE_KEY)) throw new TypeError(`metadata key "${TREE_KEY}" is reserved`);
  const { root, arrays } = flatten(tree);
  const metadata = { ...extra, [TREE_KEY]: JSON.stringify({ version: VERSION, root }) };
  return { arrays, metadata };
}

/** Serialise a tree (borrowed) and extra string metadata to safetensors bytes. */
export function encodeTree(tree: Tree, extraMetadata?: Record<string, string>): Uint8Array {
  const { arrays, metadata } = metadataFor(tree, extraMetadata);
  return encodeSafetensors(arrays, metadata);
}

/** {@link encodeTree}, reading arrays asynchronously (safe with wasm worker threads). */
export async function encodeTreeAsync(
  tree: Tree,
  extraMetadata?: Record<string, string>,
): Promise<Uint8Array> {
  const { arrays, metadata } = metadataFor(tree, extraMetadata);
  return encodeSafetensorsAsync(arrays, metadata);
}

function rebuild(root: unknown, arrays: Record<string, np.Array>): Tree {
  const used = new Set<string>();
  const bad = (path: string, what: string): never => {
    throw new SafetensorsError(`${TREE_KEY} at "${path}": ${what}`);
  };
  const build = (node: unknown, path: string): Tree => {
    const child = (key: string | number) => (path ? `${path}.${key}` : String(key));
    if (node === null || typeof node === "boolean" || typeof node === "string") return node;
    if (typeof node === "number") return node;
    if (Array.isArray(node)) return node.map((x, i) => build(x, child(i)));
    if (typeof node !== "object") return bad(path, `unexpected ${typeof node}`);
    const tags = Object.keys(node);
    const value = (node as Record<string, unknown>)[tags[0]];
    if (tags.length !== 1) return bad(path, `node must have one tag, got {${tags.join(", ")}}`);
    if (tags[0] === "number") {
      if (typeof value !== "string" || !Object.hasOwn(SPECIAL, value)) {
        return bad(path, `unknown number ${JSON.stringify(value)}`);
      }
      return SPECIAL[value];
    }
    if (tags[0] === "tensor") {
      if (typeof value !== "string" || !Object.hasOwn(arrays, value)) {
        return bad(path, `tensor ${JSON.stringify(value)} is not in the file`);
      }
      if (used.has(value)) return bad(path, `tensor "${value}" is used twice`);
      used.add(value);
      return arrays[value];
    }
    if (
      tags[0] === "object" &&
      typeof value === "object" &&
      value !== null &&
      !Array.isArray(value)
    ) {
      const entries = Object.entries(value).map(([k, v]) => [k, build(v, child(k))]);
      return Object.fromEntries(entries);
    }
    return bad(path, `unknown node tag "${tags[0]}"`);
  };
  const tree = build(root, "");
  const unused = Object.keys(arrays).filter((n) => !used.has(n));
  if (unused.length > 0) {
    throw new SafetensorsError(`tensor "${unused[0]}" is in the file but not in ${TREE_KEY}`);
  }
  return tree;
}

/** Parse bytes written by {@link encodeTree}: a new tree (the caller owns its arrays). */
export function decodeTree(bytes: Uint8Array): { tree: Tree; metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(bytes);
  try {
    const text = metadata[TREE_KEY];
    if (text === undefined) {
      throw new SafetensorsError(`no "${TREE_KEY}" metadata: not a Rankwise state file`);
    }
    let parsed: { version?: unknown; root?: unknown };
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new SafetensorsError(`${TREE_KEY} is not valid JSON (${(err as Error).message})`);
    }
    if (parsed?.version !== VERSION || !Object.hasOwn(parsed, "root")) {
      throw new SafetensorsError(
        `${TREE_KEY} has version ${JSON.stringify(parsed?.version)}; this reader knows ${VERSION}`,
      );
    }
    const tree = rebuild(parsed.root, tensors);
    const { [TREE_KEY]: _, ...rest } = metadata;
    return { tree, metadata: rest };
  } catch (err) {
    for (const a of Object.values(tensors)) a.dispose();
    throw err;
  }
}

/** Write a tree (borrowed) to `path` atomically. */
export async function saveTree(
  path: string,
  tree: Tree,
  extraMetadata?: Record<string, string>,
): Promise<void> {
  const bytes = await encodeTreeAsync(tree, extraMetadata);
  const { writeFileAtomic } = await import("./atomic.js");
  await writeFileAtomic(path, bytes);
}

/** Read a tree written by {@link saveTree}; the caller owns its arrays. */
export async function loadTree(
  path: string,
): Promise<{ tree: Tree; metadata: Record<string, string> }> {
  const { readFile } = await import("node:fs/promises");
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return decodeTree(bytes);
  } catch (err) {
    if (!(err instanceof SafetensorsError)) throw err;
    throw new SafetensorsError(`${path}: ${err.message}`, { cause: err });
  }
}
