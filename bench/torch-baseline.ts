/**
 * The PyTorch baseline's precondition: the PyTorch we compare against must call an optimised
 * BLAS. Debian's python3-torch calls whatever libblas.so.3 resolves to, which with only libblas3
 * installed is netlib's reference BLAS (about 7 GFLOP/s at a 512² float32 matmul against about
 * 200 with OpenBLAS on this project's machine); a Rankwise/PyTorch ratio against it flatters
 * Rankwise by an order of magnitude. So the benchmarks that compare with PyTorch probe its BLAS
 * (bench/torch_blas.py) before measuring anything, check it again in every PyTorch child's
 * result, record it in the results JSON, and refuse — one line, with the fix — otherwise.
 */
import { spawnSync } from "node:child_process";
import { PYTHON, ROOT } from "./common.js";

/** What bench/torch_blas.py reports. */
export interface BlasInfo {
  torch: string;
  /** BLAS_INFO of torch's build record ("generic" for Debian: the system's libblas.so.3). */
  buildBlas: string;
  /** Realpath of the library providing the sgemm_ libtorch binds to (null if linked in). */
  library: string | null;
  mapped: string[];
  /** Where Debian's libblas.so.3 alternative points. */
  libblasAlternative: string | null;
  torchThreads: number;
  name: string;
  optimised: boolean;
  /** OpenBLAS only: its build string, CPU kernel and thread count. */
  config?: string;
  core?: string;
  threads?: number;
}

export const INSTALL_HINT =
  "apt-get install libopenblas0-pthread (Debian/Ubuntu), or set BENCH_PYTHON to a python whose PyTorch uses MKL or OpenBLAS";

/** The BLAS of the PyTorch at BENCH_PYTHON; throws one line if there is no usable PyTorch. */
export function probeBlas(threads = 1): BlasInfo {
  const out = spawnSync(PYTHON, ["bench/torch_blas.py", "--threads", String(threads)], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
  });
  if (out.error) {
    throw new Error(`cannot run ${PYTHON} (${out.error.message}); set BENCH_PYTHON to a python 3`);
  }
  if (out.status !== 0) {
    const lines = out.stderr.trim().split("\n");
    throw new Error(lines.at(-1) || `${PYTHON} bench/torch_blas.py exited with ${out.status}`);
  }
  return JSON.parse(out.stdout) as BlasInfo;
}

/** Refuse a reference or unidentified BLAS, or one that runs on more threads than asked. */
export function requireOptimisedBlas(info: BlasInfo, threads?: number): BlasInfo {
  if (!info.optimised) {
    throw new Error(
      `PyTorch ${info.torch} calls ${info.name}${info.library ? ` (${info.library})` : ""}, not an optimised BLAS, so a Rankwise/PyTorch ratio would mislead; install one: ${INSTALL_HINT}`,
    );
  }
  if (threads !== undefined && info.threads !== undefined && info.threads !== threads) {
    throw new Error(
      `PyTorch's ${info.name} runs ${info.threads} threads where the benchmark asked for ${threads}`,
    );
  }
  return info;
}

/** Probe and require in one step (the parent's preflight). */
export const requireTorchBaseline = (): BlasInfo => requireOptimisedBlas(probeBlas(1), 1);

/** "OpenBLAS 0.3.21 (Haswell kernels, …/openblas-pthread/libblas.so.3)" for the page. */
export function blasLabel(info: BlasInfo): string {
  const version = info.config?.match(/^OpenBLAS (\S+)/)?.[1];
  const details = [info.core ? `${info.core} kernels` : "", info.library ?? ""].filter(Boolean);
  return `${info.name}${version ? ` ${version}` : ""}${details.length > 0 ? ` (${details.join(", ")})` : ""}`;
}

/** The record a result file keeps; every PyTorch child must have run on the same library. */
export function baselineRecord(
  preflight: BlasInfo,
  children: { threads: number; blas: BlasInfo }[],
): { torch: string; blas: BlasInfo; blasThreads: number[] } {
  for (const child of children) {
    requireOptimisedBlas(child.blas, child.threads);
    if (child.blas.library !== preflight.library) {
      throw new Error(
        `PyTorch's BLAS changed during the run (${preflight.library} → ${child.blas.library})`,
      );
    }
  }
  return {
    torch: preflight.torch,
    blas: preflight,
    blasThreads: [...new Set(children.map((c) => c.blas.threads ?? c.threads))].sort(),
  };
}
