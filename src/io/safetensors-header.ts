/**
 * The safetensors header (huggingface/safetensors format): an 8-byte little-endian u64 N, then
 * N bytes of UTF-8 JSON
 *   {"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
 * padded with spaces so the data starts 8-byte aligned, then the data (little-endian, C order).
 * Offsets count from the start of the data; tensors must tile it exactly (no gap, no overlap).
 *
 * Writing follows the reference writer (safetensors/src/tensor.rs, `prepare`): "__metadata__"
 * first and left out when empty, tensors ordered by descending dtype alignment then by name
 * (UTF-8 byte order), compact JSON, space padding. The same tensors give the same bytes.
 * Reading validates everything before any data is touched, with one-line messages.
 */
import {
  FILE_DTYPES,
  type FileDType,
  isFileDType,
  SafetensorsError,
} from "./safetensors-dtypes.js";

/** One tensor's entry in the header. */
export interface TensorInfo {
  name: string;
  dtype: FileDType;
  shape: number[];
  /** [begin, end) in bytes, from the start of the data section. */
  dataOffsets: [number, number];
  byteSize: number;
}

/**
 * A safetensors file's header, read without its data: sizes, every tensor's entry and the metadata.
 */
export interface SafetensorsHeader {
  /** N: length of the JSON header in bytes, padding included (the data starts at 8 + N). */
  headerBytes: number;
  /** Length of the data section in bytes. */
  dataBytes: number;
  /** Tensors in data order. */
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

/** Headers above this size are refused, as by the reference reader. */
export const MAX_HEADER_BYTES = 100_000_000;

const ACCEPTED = Object.keys(FILE_DTYPES).join(", ");
const utf8 = new TextEncoder();

const fail = (message: string): never => {
  throw new SafetensorsError(message);
};

/**
 * Read N from the first 8 bytes of a file of `fileSize` bytes and check it fits, before
 * anything is allocated. Given a 9th byte, an impossible N is told apart: after a "{" (where the
 * JSON header starts) the file is truncated or damaged, otherwise it is not a safetensors file.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) {
    fail(
      `file is ${fileSize} bytes long: not a safetensors file (one starts with an 8-byte header length)`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    const what = `header length ${n} exceeds the ${fileSize - 8} bytes after the length field`;
    if (prefix.length > 8 && prefix[8] !== 0x7b) fail(`${what}: not a safetensors file`);
    fail(prefix.length > 8 ? `${what} (truncated or damaged file)` : what);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  return Number(n);
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

function parseMetadata(value: unknown): Record<string, string> {
  if (value === null) return {};
  if (!isPlainObject(value)) fail("__metadata__ must be an object of strings");
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries) {
    if (typeof v !== "string") {
      fail(`__metadata__ value for "${key}" is ${v === null ? "null" : typeof v}, not a string`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseTensor(name: string, value: unknown, dataBytes: number): TensorInfo {
  const where = `tensor "${name}"`;
  if (!isPlainObject(value)) return fail(`${where}: entry must be an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isFileDType(dtype)) {
    return fail(`${where}: unknown dtype ${JSON.stringify(dtype)} (accepted: ${ACCEPTED})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    return fail(`${where}: shape must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    return fail(`${where}: data_offsets must be two non-negative integers [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`${where}: data_offsets [${begin},${end}] end before they begin`);
  if (end > dataBytes) {
    fail(`${where}: data_offsets [${begin},${end}] run past the ${dataBytes}-byte data section`);
  }
  let byteSize = FILE_DTYPES[dtype].bytes;
  for (const d of shape as number[]) byteSize *= d;
  if (!Number.isSafeInteger(byteSize)) fail(`${where}: shape [${shape}] is too large`);
  if (end - begin !== byteSize) {
    fail(
      `${where}: shape [${shape}] of ${dtype} needs ${byteSize} bytes but data_offsets [${begin},${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, shape: [...shape], dataOffsets: [begin, end], byteSize };
}

/** Parse and validate the JSON header `json` (bytes 8 to 8 + N) of a file of `fileSize` bytes. */
export function parseHeader(json: Uint8Array, fileSize: number): SafetensorsHeader {
  const dataBytes = fileSize - 8 - json.length;
  if (dataBytes < 0) fail(`header length ${json.length} exceeds the file (${fileSize} bytes)`);
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    fail("header is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) fail("header is not a JSON object");
  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") metadata = parseMetadata(value);
    else tensors.push(parseTensor(name, value, dataBytes));
  }
  tensors.sort(
    (a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1],
  );
  let covered = 0;
  let previous = "";
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin < covered) fail(`tensors "${previous}" and "${t.name}" overlap in the data section`);
    if (begin > covered) fail(`data bytes ${covered} to ${begin} belong to no tensor`);
    covered = end;
    previous = t.name;
  }
  if (covered !== dataBytes) fail(`data bytes ${covered} to ${dataBytes} belong to no tensor`);
  return { headerBytes: json.length, dataBytes, tensors, metadata };
}

function compareUtf8(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * Lay out tensors as the reference writer does. Returns the length prefix plus padded header
 * (`prefix`), the tensors in data order with their offsets, and the data section's length.
 */
export function buildHeader(
  entries: { name: string; dtype: FileDType; shape: number[] }[],
  metadata: Record<string, string>,
): { prefix: Uint8Array; tensors: TensorInfo[]; dataBytes: number } {
  const sorted = [...entries].sort(
    (a, b) =>
      FILE_DTYPES[b.dtype].order - FILE_DTYPES[a.dtype].order || compareUtf8(a.name, b.name),
  );
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  const tensors = sorted.map(({ name, dtype, shape }) => {
    const byteSize = shape.reduce((n, d) => n * d, FILE_DTYPES[dtype].bytes);
    const info: TensorInfo = {
      name,
      dtype,
      shape,
      dataOffsets: [offset, offset + byteSize],
      byteSize,
    };
    offset += byteSize;
    const entry = { dtype, shape, data_offsets: info.dataOffsets };
    // Built by hand: a JS object would move integer-like names ("0", "1") to the front.
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    return info;
  });
  const json = utf8.encode(`{${parts.join(",")}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const prefix = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(n), true);
  prefix.set(json, 8);
  return { prefix, tensors, dataBytes: offset };
}
