/** Every registered low-rank compression method, by its command-line name (one file each). */
import { cur } from "./cur.js";
import { fwsvd } from "./fwsvd.js";
import { lqLora } from "./lq-lora.js";
import { lqer } from "./lqer.js";
import { truncatedSvd } from "./svd.js";
import type { CompressMethod } from "./types.js";
import { welore } from "./welore.js";

/** Every registered method, by its command-line name. */
export const COMPRESS_METHODS: Readonly<Record<string, CompressMethod>> = {
  svd: truncatedSvd,
  fwsvd,
  welore,
  cur,
  lqer,
  "lq-lora": lqLora,
};
