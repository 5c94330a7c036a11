/**
 * Projectors by name, for options and config files: `resolveProjector` turns a name (default
 * options) or a Projector object (checked) into a Projector. The names are listed in index.ts.
 */
import { OptionError, OptionTypeError } from "../../engine/errors.js";
import { dctProjector } from "./dct.js";
import { grassProjector } from "./grass.js";
import { onlinePcaProjector } from "./online-pca.js";
import type { Projector } from "./projector.js";
import { randomProjector } from "./random.js";
import { randomizedSvdProjector } from "./randomized-svd.js";
import { svdProjector } from "./svd.js";

/**
 * The projectors by name, as options and config files give them (each made with its default
 * options).
 */
export const PROJECTORS = {
  /** Exact top-r singular vectors (GaLore; the default). */
  svd: svdProjector,
  /** Randomized range finder and a small SVD. */
  randomized_svd: randomizedSvdProjector,
  /** Random orthonormal (GoLore) bases, resampled at every refresh. */
  random: randomProjector,
  /** SVD-free DCT column selection (stores r indices). */
  dct: dctProjector,
  /** Online Subspace Descent: the basis follows gradient steps. */
  online_pca: onlinePcaProjector,
  /** Sparse row selection (Grass). */
  grass: grassProjector,
} as const;

/** A name in {@link PROJECTORS}. */
export type ProjectorName = keyof typeof PROJECTORS;
/** A projector given by name or as an object. */
export type ProjectorSpec = ProjectorName | Projector<any>;

/** A projector from its name (default options) or a Projector object (checked). */
export function resolveProjector(spec: unknown): Projector<any> {
  if (typeof spec === "string") {
    const make = (PROJECTORS as Record<string, () => Projector<any>>)[spec];
    if (!make) {
      throw new OptionError(
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
    throw new OptionTypeError(
      `projector must be a name (${Object.keys(PROJECTORS).join(", ")}) or an object with init, refresh and basis`,
    );
  }
  return spec as Projector<any>;
}
