/**
 * Engine quirk (jax-js 0.1.25): `np.array` of a small typed array (< 128 elements) whose elements
 * are all equal returns an inline constant, not a device buffer. Arithmetic on such a constant is
 * folded on the host in float64 — `c·0.98` multiplies by 0.98 itself, where a float32 buffer
 * multiplies by float32(0.98) — so the same values read back from a file compute differently
 * from the device arrays they were saved from (issue 9: novograd and stable-spam, whose
 * per-tensor scalar states are 0-d arrays, drifted by up to 1.4e-5 after a resume).
 * Arrays built from stored data are therefore moved into a device buffer, as computed arrays are.
 */
import type { numpy as np } from "@jax-js/jax";

/** `a` itself, backed by a device buffer (an inline constant is materialised; no-op otherwise). */
export function onDevice(a: np.Array): np.Array {
  // jax-js's documented-private hook; realising a constant allocates and fills one buffer.
  a._realizeSource();
  return a;
}
