/**
 * The optimizer registry: every optimizer the CLI and trainer can build by name, with its options,
 * defaults and the reference it was checked against. `rankwise optimizers` prints this table.
 */
import type { GradientTransformation, ScalarOrSchedule } from "../optim/core.js";
import * as optim from "../optim/index.js";

export interface OptionSpec {
  name: string;
  type: "number" | "boolean" | "string";
  default?: number | boolean | string;
  description: string;
}

export interface OptimizerEntry {
  name: string;
  description: string;
  /** What the implementation was checked against. */
  reference: string;
  /** Options besides `learningRate` (which the trainer supplies as a schedule). */
  options: OptionSpec[];
  /** Learning rate used when the user gives none. */
  defaultLearningRate: number;
  create(
    options: Record<string, unknown> & { learningRate: ScalarOrSchedule },
  ): GradientTransformation<any>;
}

const num = (name: string, def: number | undefined, description: string): OptionSpec => ({
  name,
  type: "number",
  ...(def === undefined ? {} : { default: def }),
  description,
});
const bool = (name: string, def: boolean, description: string): OptionSpec => ({
  name,
  type: "boolean",
  default: def,
  description,
});

const b1 = (d = 0.9) => num("b1", d, "first-moment decay");
const b2 = (d = 0.999) => num("b2", d, "second-moment decay");
const eps = (d = 1e-8) => num("eps", d, "denominator epsilon");
const wd = (d: number, kind = "L2") => num("weightDecay", d, `weight decay (${kind})`);

const entries = new Map<string, OptimizerEntry>();

/** Add an optimizer to the registry (later families register themselves the same way). */
export function registerOptimizer(entry: OptimizerEntry): void {
  if (entries.has(entry.name)) throw new Error(`optimizer "${entry.name}" is already registered`);
  entries.set(entry.name, entry);
}

export function optimizerNames(): string[] {
  return [...entries.keys()];
}

export function getOptimizer(name: string): OptimizerEntry {
  const entry = entries.get(name);
  if (!entry) {
    throw new RangeError(`unknown optimizer "${name}" (accepted: ${optimizerNames().join(", ")})`);
  }
  return entry;
}

/** Parse "key=value" strings against an optimizer's option specs. */
export function parseOptimizerOptions(
  entry: OptimizerEntry,
  pairs: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(pairs)) {
    const spec = entry.options.find((o) => o.name === key);
    if (!spec) {
      const accepted = entry.options.map((o) => o.name).join(", ") || "none";
      throw new RangeError(
        `optimizer ${entry.name} has no option "${key}" (accepted: ${accepted})`,
      );
    }
    out[key] = coerce(spec, raw);
  }
  return out;
}

function coerce(spec: OptionSpec, raw: unknown): unknown {
  if (spec.type === "number") {
    const v = typeof raw === "number" ? raw : Number(raw);
    if (typeof raw === "boolean" || raw === "" || Number.isNaN(v)) {
      throw new RangeError(`option ${spec.name} must be a number, got "${String(raw)}"`);
    }
    return v;
  }
  if (spec.type === "boolean") {
    if (raw === true || raw === "true") return true;
    if (raw === false || raw === "false") return false;
    throw new RangeError(`option ${spec.name} must be true or false, got "${String(raw)}"`);
  }
  return String(raw);
}

const classic: OptimizerEntry[] = [
  {
    name: "adamw",
    description: "Adam with decoupled weight decay",
    reference: "torch.optim.AdamW",
    defaultLearningRate: 3e-3,
    options: [b1(), b2(), eps(), wd(0.01, "decoupled"), bool("amsgrad", false, "AMSGrad maximum")],
    create: (o) => optim.adamw(o),
  },
  {
    name: "adam",
    description: "Adam (L2 weight decay)",
    reference: "torch.optim.Adam",
    defaultLearningRate: 3e-3,
    options: [b1(), b2(), eps(), wd(0), bool("amsgrad", false, "AMSGrad maximum")],
    create: (o) => optim.adam(o),
  },
  {
    name: "amsgrad",
    description: "Adam with the running maximum of v",
    reference: "torch.optim.Adam(amsgrad=True)",
    defaultLearningRate: 3e-3,
    options: [b1(), b2(), eps(), wd(0)],
    create: (o) => optim.amsgrad(o),
  },
  {
    name: "sgd",
    description: "SGD with momentum and Nesterov",
    reference: "torch.optim.SGD",
    defaultLearningRate: 0.1,
    options: [
      num("momentum", 0.9, "momentum"),
      num("dampening", 0, "momentum dampening"),
      bool("nesterov", true, "Nesterov momentum"),
      wd(0),
    ],
    create: (o) => optim.sgd({ momentum: 0.9, nesterov: true, ...o } as optim.SgdOptions),
  },
  {
    name: "rmsprop",
    description: "RMSprop (optionally centered, with momentum)",
    reference: "torch.optim.RMSprop",
    defaultLearningRate: 1e-3,
    options: [
      num("decay", 0.99, "squared-gradient decay (torch alpha)"),
      eps(),
      num("momentum", 0, "momentum"),
      bool("centered", false, "subtract the mean gradient"),
      wd(0),
    ],
    create: (o) => optim.rmsprop(o),
  },
  {
    name: "adagrad",
    description: "Adagrad",
    reference: "torch.optim.Adagrad",
    defaultLearningRate: 1e-2,
    options: [
      num("lrDecay", 0, "learning-rate decay"),
      num("initialAccumulatorValue", 0, "initial accumulator"),
      eps(1e-10),
      wd(0),
    ],
    create: (o) => optim.adagrad(o),
  },
  {
    name: "adamax",
    description: "Adam with the infinity norm",
    reference: "torch.optim.Adamax",
    defaultLearningRate: 2e-3,
    options: [b1(), b2(), eps(), wd(0)],
    create: (o) => optim.adamax(o),
  },
  {
    name: "nadam",
    description: "Adam with Nesterov momentum",
    reference: "torch.optim.NAdam",
    defaultLearningRate: 2e-3,
    options: [b1(), b2(), eps(), wd(0), num("momentumDecay", 4e-3, "momentum decay ψ")],
    create: (o) => optim.nadam(o),
  },
  {
    name: "radam",
    description: "Rectified Adam",
    reference: "torch.optim.RAdam",
    defaultLearningRate: 3e-3,
    options: [b1(), b2(), eps(), wd(0)],
    create: (o) => optim.radam(o),
  },
  {
    name: "adafactor",
    description: "Adafactor with factored second moments",
    reference: "transformers Adafactor (reference script)",
    defaultLearningRate: 1e-2,
    options: [
      num("b1", undefined, "first-moment decay (none by default)"),
      num("decayRate", -0.8, "second-moment decay exponent"),
      num("clipThreshold", 1, "update RMS clip"),
      num("eps1", 1e-30, "regulariser of g²"),
      num("eps2", 1e-3, "parameter-scale floor"),
      bool("scaleParameter", true, "scale the step by RMS(p)"),
      wd(0, "decoupled"),
    ],
    create: (o) => optim.adafactor({ ...o, relativeStep: false } as optim.AdafactorOptions),
  },
  {
    name: "lion",
    description: "Lion (sign of interpolated momentum)",
    reference: "google/automl lion (reference script)",
    defaultLearningRate: 3e-4,
    options: [b1(0.9), b2(0.99), wd(0, "decoupled")],
    create: (o) => optim.lion(o),
  },
  {
    name: "signum",
    description: "sign of momentum",
    reference: "Bernstein et al. 2018 (reference script)",
    defaultLearningRate: 3e-4,
    options: [num("momentum", 0.9, "momentum"), wd(0)],
    create: (o) => optim.signum(o),
  },
  {
    name: "novograd",
    description: "NovoGrad (layer-wise second moment)",
    reference: "NVIDIA apex NovoGrad (reference script)",
    defaultLearningRate: 1e-2,
    options: [b1(0.95), b2(0.98), eps(), wd(0), bool("gradAveraging", false, "scale by 1−β1")],
    create: (o) => optim.novograd(o),
  },
];
for (const entry of classic) registerOptimizer(entry);
