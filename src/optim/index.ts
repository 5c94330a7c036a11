/**
 * Everything in optim/, for code inside the library (the optimizer registry reads factories and
 * their defaults from here). Not the public API: the package entry (src/index.ts) lists its
 * names explicitly and does not re-export this file.
 */

export * from "../linalg/matrix-functions.js";
export * from "../linalg/newton-schulz.js";
export * from "./core.js";
export * from "./ema.js";
export * from "./hyperparams.js";
export * from "./optimizers/adafactor.js";
export * from "./optimizers/adagrad.js";
export * from "./optimizers/adam.js";
export * from "./optimizers/adamax.js";
export * from "./optimizers/adamp.js";
export * from "./optimizers/ademamix.js";
export * from "./optimizers/asgo.js";
export * from "./optimizers/cosmos.js";
export * from "./optimizers/diffgrad.js";
export * from "./optimizers/fadam.js";
export * from "./optimizers/fira.js";
export * from "./optimizers/frugal.js";
export * from "./optimizers/galore.js";
export * from "./optimizers/galore-8bit.js";
export * from "./optimizers/galore-adafactor.js";
export * from "./optimizers/grams.js";
export * from "./optimizers/gwt.js";
export * from "./optimizers/lamb.js";
export * from "./optimizers/lion.js";
export * from "./optimizers/mars.js";
export * from "./optimizers/muon.js";
export * from "./optimizers/nadam.js";
export * from "./optimizers/novograd.js";
export * from "./optimizers/psgd-kron.js";
export * from "./optimizers/q-galore.js";
export * from "./optimizers/radam.js";
export * from "./optimizers/rmsprop.js";
export * from "./optimizers/sgd.js";
export * from "./optimizers/shampoo.js";
export * from "./optimizers/signum.js";
export * from "./optimizers/soap.js";
export * from "./optimizers/spam.js";
export * from "./optimizers/stable-spam.js";
export * from "./optimizers/tensor-galore.js";
export * from "./optimizers/xgrad.js";
export * from "./projection/index.js";
export * from "./schedules.js";
export * from "./transforms/accumulate.js";
export * from "./transforms/adagrad.js";
export * from "./transforms/adam.js";
export * from "./transforms/agc.js";
export * from "./transforms/cautious.js";
export * from "./transforms/cautious-weight-decay.js";
export * from "./transforms/centralize.js";
export * from "./transforms/clip.js";
export * from "./transforms/grades.js";
export * from "./transforms/grokfast.js";
export * from "./transforms/matrix-partition.js";
export * from "./transforms/norm-stabilizer.js";
export * from "./transforms/powersgd.js";
export * from "./transforms/rms.js";
export * from "./transforms/scale.js";
export * from "./transforms/sign.js";
export * from "./transforms/skip-nonfinite.js";
export * from "./transforms/spike-clip.js";
export * from "./transforms/trace.js";
export * from "./transforms/weight-decay.js";
