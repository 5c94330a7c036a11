/**
 * The `--reweight` value: how each batch's per-token losses become the trained objective.
 *
 *   none                 mean cross-entropy (default)
 *   loss-linear[:r]      dynamic loss-based sample weights (./loss-weights.ts), temperature r
 *   loss-quadratic[:r]   (default r = 1, the value the paper's figures use)
 *   loss-extremes[:r]
 *   focal[:gamma]        focal loss over tokens (src/nn/loss.ts focalLoss), default gamma = 2
 *
 * The focal option lives in the same flag because it, too, replaces the objective by one that
 * leans towards hard examples; it is per token, the loss rules per sequence. Bad values are a
 * UsageError naming the accepted forms.
 */
import { UsageError } from "../../engine/errors.js";
import { LOSS_RULES, type LossRule } from "./loss-weights.js";

/** A parsed `--reweight` value. */
export type ReweightSpec =
  | { kind: "none" }
  | { kind: LossRule; r: number }
  | { kind: "focal"; gamma: number };

/** The accepted forms, for help texts and messages. */
export const REWEIGHT_FORMS = ["none", ...LOSS_RULES.map((r) => `${r}[:r]`), "focal[:gamma]"];

const bad = (value: string) =>
  new UsageError(
    `--reweight must be one of ${REWEIGHT_FORMS.join(", ")} (r > 0, gamma ≥ 0); got "${value}"`,
  );

/** Parse a `--reweight` value; throws a UsageError on anything else. */
export function parseReweight(value: unknown): ReweightSpec {
  const text = String(value ?? "none").trim();
  const [name, arg, extra] = text.split(":");
  if (extra !== undefined) throw bad(text);
  const num = arg === undefined ? undefined : arg.trim() === "" ? Number.NaN : Number(arg);
  if (name === "none" && arg === undefined) return { kind: "none" };
  if ((LOSS_RULES as readonly string[]).includes(name)) {
    const r = num ?? 1;
    if (!(Number.isFinite(r) && r > 0)) throw bad(text);
    return { kind: name as LossRule, r };
  }
  if (name === "focal") {
    const gamma = num ?? 2;
    if (!(Number.isFinite(gamma) && gamma >= 0)) throw bad(text);
    return { kind: "focal", gamma };
  }
  throw bad(text);
}

/** The canonical text of a spec (what a run's configuration records). */
export function formatReweight(spec: ReweightSpec): string {
  if (spec.kind === "none") return "none";
  return spec.kind === "focal" ? `focal:${spec.gamma}` : `${spec.kind}:${spec.r}`;
}
