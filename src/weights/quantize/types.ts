/**
 * What quantisation produces for one decoder linear weight W [rows = out, cols = in] (HF layout):
 * one code per weight on the symmetric grid of grid.ts and one float32 scale per output row and
 * group of `groupSize` consecutive inputs (groupSize = cols: one scale per row). The weight it
 * stands for is Ŵ[r, c] = scales[r, ⌊c/groupSize⌋]·(codes[r, c] − 2^(bits−1)).
 */
import type { QuantBits } from "./grid.js";

/** A quantised matrix on the host (codes unpacked; format.ts packs them for the file). */
export interface QuantizedMatrix {
  rows: number;
  cols: number;
  bits: QuantBits;
  groupSize: number;
  /** q ∈ [0, 2^bits − 1], row-major [rows, cols]. */
  codes: Uint8Array;
  /** Row-major [rows, cols / groupSize]. */
  scales: Float32Array;
}

/** The quantisation of one command. */
export interface QuantizeSettings {
  /** "rtn" (round to nearest) or "gptq" (needs calibration). */
  method: "rtn" | "gptq";
  bits: QuantBits;
  /** Inputs per scale; default (undefined): each layer's whole input (one scale per row). */
  groupSize?: number;
}
