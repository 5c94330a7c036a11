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
