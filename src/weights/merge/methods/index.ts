/**
 * The merge methods by mergekit's `merge_method` name. One file per method (family); this list
 * is the only place that names them all.
 */
import type { MergeMethod } from "../method.js";
import { breadcrumbs, breadcrumbsTies } from "./breadcrumbs.js";
import { dareLinear, dareTies } from "./dare.js";
import { della, dellaLinear } from "./della.js";
import { fisher } from "./fisher.js";
import { isoC } from "./iso-c.js";
import { isoCts } from "./iso-cts.js";
import { karcher } from "./karcher.js";
import { linear } from "./linear.js";
import { mats, matsFisher } from "./mats.js";
import { modelStock } from "./model-stock.js";
import { multislerp } from "./multislerp.js";
import { nearswap } from "./nearswap.js";
import { nuslerp } from "./nuslerp.js";
import { orthogonalContinual } from "./orthogonal-continual.js";
import { passthrough } from "./passthrough.js";
import { sce } from "./sce.js";
import { slerp } from "./slerp.js";
import { taskArithmetic } from "./task-arithmetic.js";
import { ties } from "./ties.js";
import { uncertaintyGm } from "./uncertainty-gm.js";

const METHODS: MergeMethod[] = [
  linear,
  taskArithmetic,
  ties,
  dareLinear,
  dareTies,
  breadcrumbs,
  breadcrumbsTies,
  della,
  dellaLinear,
  slerp,
  nuslerp,
  multislerp,
  karcher,
  modelStock,
  nearswap,
  sce,
  passthrough,
  // The seeds' methods (METHODS.md §4).
  isoC,
  isoCts,
  mats,
  matsFisher,
  orthogonalContinual,
  fisher,
  uncertaintyGm,
];

/** Every merge method, by its `merge_method` name. */
export const MERGE_METHODS: ReadonlyMap<string, MergeMethod> = new Map(
  METHODS.map((m) => [m.name, m]),
);

/** The method called `name`; undefined when there is none. */
export const mergeMethod = (name: string): MergeMethod | undefined => MERGE_METHODS.get(name);
