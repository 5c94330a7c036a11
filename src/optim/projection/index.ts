/**
 * Projectors of the GaLore family, by name (for options and config files) or as objects.
 *   svd (default)   exact top-r singular vectors (GaLore)
 *   randomized_svd  randomized range finder + small SVD
 *   random          random orthonormal (GoLore) or Gaussian (Flora) bases, resampled per refresh
 *   dct             SVD-free DCT column selection, stores r indices
 *   online_pca      Online Subspace Descent: the basis follows gradient steps
 *   grass           sparse row selection (Grass)
 * The default is svd: it reproduces GaLore, and on the sizes this library trains (up to ~1k × 4k
 * matrices, refreshed every ~200 steps) its cost per step is small next to the forward/backward
 * pass; randomized_svd is the faster choice for larger matrices.
 */
import { dctProjector } from "./dct.js";
import { grassProjector } from "./grass.js";
import { onlinePcaProjector } from "./online-pca.js";
import type { Projector } from "./projector.js";
import { randomProjector } from "./random.js";
import { randomizedSvdProjector } from "./randomized-svd.js";
import { svdProjector } from "./svd.js";

export * from "./dct.js";
export * from "./grass.js";
export * from "./online-pca.js";
export * from "./projector.js";
export * from "./random.js";
export * from "./randomized-svd.js";
export * from "./subspace.js";
export * from "./svd.js";

export const PROJECTORS = {
  svd: svdProjector,
  randomized_svd: randomizedSvdProjector,
  random: randomProjector,
  dct: dctProjector,
  online_pca: onlinePcaProjector,
  grass: grassProjector,
} as const;

export type ProjectorName = keyof typeof PROJECTORS;
export type ProjectorSpec = ProjectorName | Projector<any>;

/** A projector from its name (default options) or a Projector object (checked). */
export function resolveProjector(spec: unknown): Projector<any> {
  if (typeof spec === "string") {
    const make = (PROJECTORS as Record<string, () => Projector<any>>)[spec];
    if (!make) {
      throw new RangeError(
        `projector must be one of ${Object.keys(PROJECTORS).join(", ")} or a Projector; got ${JSON.stringify(spec)}`,
      );
    }
    return make();
  }
  const p = spec as Partial<Projector>;
  if (
    typeof spec !== "object" ||
    spec === null ||
    typeof p.init !== "function" ||
    typeof p.refresh !== "function" ||
    typeof p.basis !== "function"
  ) {
    throw new TypeError(
      `projector must be a name (${Object.keys(PROJECTORS).join(", ")}) or an object with init, refresh and basis`,
    );
  }
  return spec as Projector<any>;
}
export * from "./q-galore.js";
