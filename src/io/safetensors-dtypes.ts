/**
 * The safetensors dtypes Rankwise reads and writes, and the jax-js dtype each becomes.
 *
 * Written and read back exactly: F32, F64, I32, U32, BOOL, F16 (float16 arrays need a runtime
 * with Float16Array). Read and widened, exactly: BF16 → float32 (the bits shifted left by 16);
 * F16 → float32 where the runtime has no Float16Array; I8, U8, I16, U16 → int32; I64, U64 → int32
 * when every value fits, else an error (jax-js has no 64-bit integers). BOOL bytes other than 0
 * read as true.
 *
 * `order` is the dtype's place in the reference implementation's Dtype enum (huggingface/
 * safetensors, safetensors/src/tensor.rs), which lists dtypes by increasing alignment: writers
 * sort tensors by descending order, then by name, so every tensor's data starts aligned.
 */
import type { ElementData, StorableDType } from "./array-bytes.js";
import { hasFloat16Array } from "./array-bytes.js";

/** Errors in a safetensors file or state file (format, validation, unsupported content, an
 *  unreadable file). The CLI counts them as bad input (a file the user gave). */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** A tensor dtype as safetensors files name it. */
export type FileDType =
  | "BOOL"
  | "U8"
  | "I8"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "F64"
  | "I64"
  | "U64";

export const FILE_DTYPES: Record<FileDType, { bytes: number; order: number }> = {
  BOOL: { bytes: 1, order: 0 },
  U8: { bytes: 1, order: 1 },
  I8: { bytes: 1, order: 2 },
  I16: { bytes: 2, order: 5 },
  U16: { bytes: 2, order: 6 },
  F16: { bytes: 2, order: 7 },
  BF16: { bytes: 2, order: 8 },
  I32: { bytes: 4, order: 9 },
  U32: { bytes: 4, order: 10 },
  F32: { bytes: 4, order: 11 },
  F64: { bytes: 8, order: 12 },
  I64: { bytes: 8, order: 13 },
  U64: { bytes: 8, order: 14 },
};

/** The file dtype each jax-js dtype is written as. */
export const FILE_DTYPE_OF: Record<StorableDType, FileDType> = {
  float32: "F32",
  float64: "F64",
  float16: "F16",
  int32: "I32",
  uint32: "U32",
  bool: "BOOL",
};

export const isFileDType = (s: unknown): s is FileDType =>
  typeof s === "string" && Object.hasOwn(FILE_DTYPES, s);

let halfToFloatBits: Uint32Array | null = null;

/** float32 bit pattern of every float16 bit pattern (exact; NaN payloads kept in the top bits). */
function halfTable(): Uint32Array {
  if (halfToFloatBits) return halfToFloatBits;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let man = h & 0x3ff;
    if (exp === 31) table[h] = sign | 0x7f800000 | (man << 13);
    else if (exp > 0) table[h] = sign | ((exp + 112) << 23) | (man << 13);
    else if (man === 0) table[h] = sign;
    else {
      // Subnormal half: value man · 2^-24; normalise so the leading 1 becomes implicit.
      let e = 113;
      while (!(man & 0x400)) {
        man <<= 1;
        e--;
      }
      table[h] = sign | (e << 23) | ((man & 0x3ff) << 13);
    }
  }
  halfToFloatBits = table;
  return table;
}

function widenHalves(halves: Uint16Array, table: (h: number) => number): Float32Array {
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = table(halves[i]);
  return new Float32Array(bits.buffer);
}

function narrowInt64(raw: ArrayBuffer, signed: boolean, name: string): Int32Array {
  const words = new Int32Array(raw);
  const out = new Int32Array(words.length / 2);
  for (let i = 0; i < out.length; i++) {
    const lo = words[2 * i];
    const hi = words[2 * i + 1];
    if (hi !== (signed ? lo >> 31 : 0) || (!signed && lo < 0)) {
      const view = new DataView(raw, 8 * i, 8);
      const value = signed ? view.getBigInt64(0, true) : view.getBigUint64(0, true);
      throw new SafetensorsError(
        `tensor "${name}": ${signed ? "I64" : "U64"} value ${value} at element ${i} does not fit in int32`,
      );
    }
    out[i] = lo;
  }
  return out;
}

/**
 * Turn one tensor's bytes (an aligned copy of exactly its data) into jax-js elements.
 * `raw` may be reused as the result's buffer.
 */
export function toElements(
  dtype: FileDType,
  raw: ArrayBuffer,
  name: string,
): { dtype: StorableDType; data: ElementData } {
  switch (dtype) {
    case "F32":
      return { dtype: "float32", data: new Float32Array(raw) };
    case "F64":
      return { dtype: "float64", data: new Float64Array(raw) };
    case "I32":
      return { dtype: "int32", data: new Int32Array(raw) };
    case "U32":
      return { dtype: "uint32", data: new Uint32Array(raw) };
    case "F16": {
      const halves = new Uint16Array(raw);
      if (hasFloat16Array) return { dtype: "float16", data: halves };
      const table = halfTable();
      return { dtype: "float32", data: widenHalves(halves, (h) => table[h]) };
    }
    case "BF16":
      return { dtype: "float32", data: widenHalves(new Uint16Array(raw), (h) => h << 16) };
    case "BOOL": {
      const bytes = new Uint8Array(raw);
      const out = new Int32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] ? 1 : 0;
      return { dtype: "bool", data: out };
    }
    case "I8":
      return { dtype: "int32", data: new Int32Array(new Int8Array(raw)) };
    case "U8":
      return { dtype: "int32", data: new Int32Array(new Uint8Array(raw)) };
    case "I16":
      return { dtype: "int32", data: new Int32Array(new Int16Array(raw)) };
    case "U16":
      return { dtype: "int32", data: new Int32Array(new Uint16Array(raw)) };
    case "I64":
      return { dtype: "int32", data: narrowInt64(raw, true, name) };
    case "U64":
      return { dtype: "int32", data: narrowInt64(raw, false, name) };
  }
}
