/**
 * Helpers for the io tests: fixture files, arrays' raw bytes as hex, and hand-built
 * safetensors bytes (written here from the format description, not with the encoder under test).
 */
import { readFileSync } from "node:fs";
import type { numpy as np } from "@jax-js/jax";

export const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  hex: string;
  decoded?: { dtype: string; hex: string };
}
interface ExpectedFile {
  metadata: Record<string, string>;
  tensors: Record<string, ExpectedTensor>;
}
export const expected: { reference: ExpectedFile; widened: ExpectedFile } = JSON.parse(
  readFileSync(new URL("../fixtures/reference-expected.json", import.meta.url), "utf8"),
);

/** The array's elements as stored in a file (bool: one byte each), as hex. Borrows. */
export function hexOf(a: np.Array): string {
  const data = a.ref.dataSync();
  if (a.dtype === "bool") return Buffer.from(Uint8Array.from(data as Int32Array)).toString("hex");
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex");
}

/** u64 little-endian length, then `header` (a string, used as is) and `data`. */
export function rawFile(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
