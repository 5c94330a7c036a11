/**
 * The `--mixing` value: uniform | fixed:w1,w2,… | doremi | dga | odm, checked against the
 * domains of `--data` (a comma-separated list). Fixed weights are normalised to sum to 1 (so
 * `fixed:1,3` means 25 % / 75 %). Bad input throws a UsageError naming the accepted values.
 */
import { UsageError } from "../../engine/errors.js";
import { normalize, uniform } from "./simplex.js";

/** The `--mixing` rules (`fixed` is written `fixed:w1,w2,…`). */
export const MIXING_RULES = ["uniform", "fixed", "doremi", "dga", "odm", "upgrad"] as const;
/** One of {@link MIXING_RULES}. */
export type MixingRule = (typeof MIXING_RULES)[number];

/** A parsed `--mixing` value. */
export interface MixingSpec {
  rule: MixingRule;
  /** Starting (and, for uniform/fixed, constant) weights. */
  weights: number[];
}

const ACCEPTED = "uniform, fixed:w1,w2,… (one weight per domain), doremi, dga, odm, upgrad";

/** The domain names of a `--data` value ("moby-dick,sotu" → two domains). */
export const domainNames = (data: string): string[] => data.split(",").map((s) => s.trim());

/** Parse and check `value` for `domains`. */
export function parseMixing(value: string, domains: readonly string[]): MixingSpec {
  const k = domains.length;
  if (value.startsWith("fixed:")) {
    const parts = value.slice("fixed:".length).split(",");
    const weights = parts.map((p) => (p.trim() === "" ? Number.NaN : Number(p)));
    if (weights.length !== k) {
      throw new UsageError(
        `--mixing fixed needs one weight per domain (${k}: ${domains.join(", ")}), got ${weights.length}`,
      );
    }
    const bad = weights.findIndex((w) => !Number.isFinite(w) || w < 0);
    if (bad >= 0) {
      throw new UsageError(
        `--mixing fixed weights must be non-negative numbers, got "${parts[bad]}" for ${domains[bad]}`,
      );
    }
    if (!weights.some((w) => w > 0)) {
      throw new UsageError("--mixing fixed weights must not all be zero");
    }
    return { rule: "fixed", weights: normalize(weights) };
  }
  if (!(MIXING_RULES as readonly string[]).includes(value) || value === "fixed") {
    throw new UsageError(`--mixing must be one of ${ACCEPTED}; got "${value}"`);
  }
  const rule = value as MixingRule;
  if (rule !== "uniform" && k < 2) {
    throw new UsageError(
      `--mixing ${rule} needs at least two domains in --data (e.g. --data moby-dick,sotu)`,
    );
  }
  return { rule, weights: uniform(k) };
}
