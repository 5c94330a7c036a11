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
 *
 * This is the public `projection` namespace: the projectors, the name registry and
 * scaleByGalore (with their option and state types). The bookkeeping helpers (subspace.ts,
 * projector.ts) stay internal: import them from their files.
 */
export { type DctProjectorState, dctProjector } from "./dct.js";
export { type GrassOptions, type GrassProjectorState, grassProjector } from "./grass.js";
export { type OnlinePcaOptions, type OnlinePcaState, onlinePcaProjector } from "./online-pca.js";
export type { Projector, ProjectorContext, ProjectorState } from "./projector.js";
export {
  type QGaloreProjectorOptions,
  type QGaloreProjectorState,
  type QuantizedBasis,
  qGaloreProjector,
} from "./q-galore.js";
export {
  type RandomProjectorOptions,
  type RandomProjectorState,
  randomProjector,
} from "./random.js";
export {
  type RandomizedSvdProjectorOptions,
  type RandomizedSvdProjectorState,
  randomizedSvdProjector,
} from "./randomized-svd.js";
export { PROJECTORS, type ProjectorName, type ProjectorSpec, resolveProjector } from "./resolve.js";
export {
  type GaloreResidual,
  type GaloreState,
  type ScaleByGaloreOptions,
  scaleByGalore,
} from "./scale-by-galore.js";
export { type Bases, PROJ_TYPES, type ProjType, type SubspaceState } from "./subspace.js";
export { type SvdProjectorState, svdProjector } from "./svd.js";
