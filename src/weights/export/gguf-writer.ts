/**
 * A GGUF version 3 file as bytes (ggml's docs/gguf.md; gguf-py's GGUFWriter, read not copied):
 *
 *   "GGUF" · u32 version 3 · u64 tensor count · u64 metadata count
 *   metadata: string key · u32 value type · value        (all little-endian)
 *   tensor infos: string name · u32 n_dims · u64 dims (ne[0] = the contiguous axis first)
 *                 · u32 ggml type · u64 offset from the start of the data section
 *   zero padding to `general.alignment` (32), then each tensor's bytes, each padded to 32.
 *
 * Strings are u64 byte length + UTF-8 bytes; arrays are u32 element type + u64 count + elements.
 * Metadata values are typed explicitly ({@link GgufValue}) because JSON numbers do not say
 * whether a field is u32 or f32, and llama.cpp checks the types of the keys it reads.
 */

/** GGUF metadata value types (gguf.md enum gguf_metadata_value_type). */
export const GGUF_VALUE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** A typed metadata value. */
export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: readonly string[] }
  | { type: "f32[]"; value: Float32Array }
  | { type: "i32[]"; value: Int32Array };

/** One tensor: its name, shape in ggml order (ne[0] first), ggml type and stored bytes. */
export interface GgufTensor {
  name: string;
  /** ne[0], ne[1], …: for a row-major [rows, cols] matrix this is [cols, rows]. */
  dims: number[];
  type: number;
  data: Uint8Array;
}

const ALIGNMENT = 32;
const pad = (n: number) => (ALIGNMENT - (n % ALIGNMENT)) % ALIGNMENT;

/** A growable little-endian byte buffer. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u32(v: number) {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number) {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number) {
    this.reserve(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number) {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array) {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  string(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  zeros(n: number) {
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(out: Bytes, v: GgufValue): void {
  switch (v.type) {
    case "u32":
      out.u32(GGUF_VALUE.UINT32);
      out.u32(v.value);
      break;
    case "i32":
      out.u32(GGUF_VALUE.INT32);
      out.i32(v.value);
      break;
    case "f32":
      out.u32(GGUF_VALUE.FLOAT32);
      out.f32(v.value);
      break;
    case "bool":
      out.u32(GGUF_VALUE.BOOL);
      out.u8(v.value ? 1 : 0);
      break;
    case "string":
      out.u32(GGUF_VALUE.STRING);
      out.string(v.value);
      break;
    case "string[]":
      out.u32(GGUF_VALUE.ARRAY);
      out.u32(GGUF_VALUE.STRING);
      out.u64(v.value.length);
      for (const s of v.value) out.string(s);
      break;
    case "f32[]":
      out.u32(GGUF_VALUE.ARRAY);
      out.u32(GGUF_VALUE.FLOAT32);
      out.u64(v.value.length);
      for (const x of v.value) out.f32(x);
      break;
    case "i32[]":
      out.u32(GGUF_VALUE.ARRAY);
      out.u32(GGUF_VALUE.INT32);
      out.u64(v.value.length);
      for (const x of v.value) out.i32(x);
      break;
  }
}

/** The bytes of a GGUF v3 file with these metadata entries (in order) and tensors. */
export function ggufBytes(metadata: Record<string, GgufValue>, tensors: GgufTensor[]): Uint8Array {
  const head = new Bytes();
  head.bytes(new TextEncoder().encode("GGUF"));
  head.u32(3);
  head.u64(tensors.length);
  const entries = Object.entries({
    ...metadata,
    "general.alignment": { type: "u32", value: ALIGNMENT },
  } satisfies Record<string, GgufValue>);
  head.u64(entries.length);
  for (const [key, value] of entries) {
    head.string(key);
    writeValue(head, value);
  }
  let offset = 0;
  for (const t of tensors) {
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    offset += t.data.length + pad(t.data.length);
  }
  head.zeros(pad(head.length));
  const header = head.result();
  const out = new Uint8Array(header.length + offset);
  out.set(header);
  let at = header.length;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.length + pad(t.data.length);
  }
  return out;
}
