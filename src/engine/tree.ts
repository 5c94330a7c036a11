/**
 * Trees of arrays: plain objects and arrays whose leaves are jax-js arrays or plain values
 * (numbers, strings, booleans, null). Leaves are visited in insertion order; a leaf's path joins
 * its keys with "." (e.g. "layers.0.weight").
 */
import { numpy as np } from "@jax-js/jax";

/** A jax-js array (a tree's array leaf). */
export type Array = np.Array;
/** What a tree's leaves may be: arrays and plain JSON values. */
export type Leaf = np.Array | number | string | boolean | null;
/** A tree: a leaf, or plain arrays and objects of trees (jax-js's pytrees without custom nodes). */
export type Tree<T = Leaf> = T | Tree<T>[] | { [key: string]: Tree<T> };
/** Parameters, gradients and updates: trees whose leaves are float arrays. */
export type Params = Tree<np.Array>;

/** jax-js arrays and the tracers that stand for them inside jit/grad (np.Array's base class). */
const Tracer = Object.getPrototypeOf(np.Array.prototype).constructor as abstract new (
  ...args: never[]
) => unknown;

/** Whether `x` is a jax-js array (or a tracer standing for one inside `jit`/`grad`). */
export const isArray = (x: unknown): x is np.Array => x instanceof Tracer;

const isNode = (x: unknown): x is object =>
  Array.isArray(x) || (typeof x === "object" && x !== null && !isArray(x));

/** Visit leaves in order with their paths. */
export function walk<T>(tree: Tree<T>, visit: (leaf: T, path: string) => void, prefix = ""): void {
  if (Array.isArray(tree)) {
    tree.forEach((child, i) => {
      walk(child, visit, prefix ? `${prefix}.${i}` : String(i));
    });
  } else if (isNode(tree)) {
    for (const [key, child] of Object.entries(tree)) {
      walk(child as Tree<T>, visit, prefix ? `${prefix}.${key}` : key);
    }
  } else visit(tree as T, prefix);
}

/** The leaves of `tree` in order (borrowed, not copied). */
export function leaves<T>(tree: Tree<T>): T[] {
  const out: T[] = [];
  walk(tree, (leaf) => out.push(leaf));
  return out;
}

/** The path of every leaf ("layers.0.weight"), in leaf order. */
export function paths(tree: Tree<unknown>): string[] {
  const out: string[] = [];
  walk(tree, (_, path) => out.push(path));
  return out;
}

/** Rebuild `structure` with its leaves replaced, in order, by `values`. */
export function unflatten<T, U>(structure: Tree<T>, values: readonly U[]): Tree<U> {
  let i = 0;
  const build = (node: Tree<T>): Tree<U> => {
    if (Array.isArray(node)) return node.map(build);
    if (isNode(node)) {
      const out: { [key: string]: Tree<U> } = {};
      for (const [key, child] of Object.entries(node)) out[key] = build(child as Tree<T>);
      return out;
    }
    return values[i++] as U;
  };
  const result = build(structure);
  if (i !== values.length) throw new Error(`unflatten: expected ${i} values, got ${values.length}`);
  return result;
}

/**
 * Map `fn` over the leaves of `tree` (and the matching leaves of `rest`, trees of the same
 * structure), passing each leaf's path (e.g. "layers.0.w") second: `fn(leaf, path, ...others)`.
 * Use this when a rule depends on where a leaf sits; {@link map} is jax-js's leaves-only form.
 * Ownership is up to `fn`.
 */
export function mapWithPath<T, U>(
  fn: (leaf: T, path: string, ...rest: any[]) => U,
  tree: Tree<T>,
  ...rest: Tree<any>[]
): Tree<U> {
  const first: T[] = [];
  const ps: string[] = [];
  walk(tree, (leaf, path) => {
    first.push(leaf);
    ps.push(path);
  });
  const others = rest.map((t) => {
    const ls = leaves(t);
    if (ls.length !== first.length) {
      throw new Error(`tree.map: trees differ in size (${first.length} vs ${ls.length} leaves)`);
    }
    return ls;
  });
  return unflatten(
    tree,
    first.map((leaf, i) => fn(leaf, ps[i], ...others.map((o) => o[i]))),
  );
}

/**
 * Map `fn` over the leaves of `tree` and the matching leaves of `rest`: `fn(leaf, ...others)`,
 * jax-js's `tree.map` signature (no path; {@link mapWithPath} passes one). Ownership is up to `fn`.
 */
export function map<T, U>(
  fn: (leaf: T, ...rest: any[]) => U,
  tree: Tree<T>,
  ...rest: Tree<any>[]
): Tree<U> {
  return mapWithPath((leaf: T, _path, ...others) => fn(leaf, ...others), tree, ...rest);
}

/** Take one more reference to every array in the tree (returns the same tree). */
export function ref<T extends Tree<any>>(tree: T): T {
  walk(tree as Tree<unknown>, (leaf) => {
    if (isArray(leaf)) void leaf.ref;
  });
  return tree;
}

/** A new tree of the same structure holding one more reference to each array (a shared copy). */
export function share<T extends Tree<any>>(t: T): T {
  return map((leaf: unknown) => (isArray(leaf) ? leaf.ref : leaf), t as Tree<unknown>) as T;
}

/** Release one reference to every array in the tree. */
export function dispose(tree: Tree<any>): void {
  walk(tree as Tree<unknown>, (leaf) => {
    if (isArray(leaf)) leaf.dispose();
  });
}

/** A float32 zero array shaped like each array leaf; borrows the tree (consumes nothing). */
export function zerosLike(tree: Params): Params {
  return map((leaf: np.Array) => np.zeros(leaf.shape, { dtype: leaf.dtype }), tree);
}

const BYTES: Record<string, number> = {
  float64: 8,
  float32: 4,
  int32: 4,
  uint32: 4,
  float16: 2,
  bool: 1,
  int8: 1,
  uint8: 1,
};

/** Bytes held by one array of the given dtype and size. */
export function arrayBytes(a: np.Array): number {
  const width = BYTES[a.dtype];
  if (width === undefined) throw new Error(`arrayBytes: unknown dtype ${a.dtype}`);
  return a.size * width;
}

/** Bytes held by every array in a tree (plain numbers and strings count as 0). Borrows. */
export function stateBytes(tree: Tree<any>): number {
  let total = 0;
  walk(tree as Tree<unknown>, (leaf) => {
    if (isArray(leaf)) total += arrayBytes(leaf);
  });
  return total;
}

/** Number of scalar elements in every array of a tree. Borrows. */
export function size(tree: Tree<any>): number {
  let total = 0;
  walk(tree as Tree<unknown>, (leaf) => {
    if (isArray(leaf)) total += leaf.size;
  });
  return total;
}
