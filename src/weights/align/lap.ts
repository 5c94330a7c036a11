/**
 * The linear assignment problem on the host, in float64: for a square n×n matrix C (row-major),
 * the permutation `col` (row i → column col[i]) that minimises Σᵢ C[i, col[i]] (or maximises it
 * with `maximize`), as scipy.optimize.linear_sum_assignment answers for a square matrix.
 *
 * Rule: the shortest-augmenting-path form of the Hungarian method with row and column potentials
 * (Kuhn 1955, Munkres 1957; the O(n³) variant of Jonker & Volgenant 1987 without their
 * initialisation heuristics): rows are added one at a time, each by a Dijkstra-like search over
 * reduced costs C[i, j] − u[i] − v[j] ≥ 0 that ends at a free column, then the path is flipped.
 * Written from the method's description. Weight matching (weight-matching.ts) solves one per
 * permutation group per sweep; n is at most a model's intermediate or hidden size.
 *
 * Deviation from scipy: square matrices only (all that weight matching needs); among optimal
 * assignments the one returned may differ (ties), never its value.
 */

/** Row i's column in an optimal assignment of the n×n `cost` (row-major). */
export function linearSumAssignment(
  cost: Float64Array | readonly number[],
  n: number,
  { maximize = false }: { maximize?: boolean } = {},
): Int32Array {
  if (!Number.isInteger(n) || n < 0 || cost.length !== n * n) {
    throw new RangeError(
      `linearSumAssignment: cost must hold n×n = ${n}×${n} values, got ${cost.length}`,
    );
  }
  const sign = maximize ? -1 : 1;
  const c = new Float64Array(n * n);
  for (let k = 0; k < c.length; k++) {
    const x = cost[k]!;
    if (!Number.isFinite(x)) {
      throw new RangeError(
        `linearSumAssignment: cost[${Math.floor(k / n)}, ${k % n}] is ${x}; every cost must be finite`,
      );
    }
    c[k] = sign * x;
  }
  // 1-based rows and columns; column 0 is the search's virtual start.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const rowOf = new Int32Array(n + 1); // rowOf[j]: the row assigned to column j (0 = free)
  const way = new Int32Array(n + 1); // the previous column on the shortest path
  const minv = new Float64Array(n + 1);
  const used = new Uint8Array(n + 1);
  for (let i = 1; i <= n; i++) {
    rowOf[0] = i;
    let j0 = 0;
    minv.fill(Number.POSITIVE_INFINITY);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = rowOf[j0]!;
      const base = (i0 - 1) * n - 1;
      let delta = Number.POSITIVE_INFINITY;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const reduced = c[base + j]! - u[i0]! - v[j]!;
        if (reduced < minv[j]!) {
          minv[j] = reduced;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[rowOf[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (rowOf[j0] !== 0);
    // Flip the augmenting path back to the start.
    do {
      const j1 = way[j0]!;
      rowOf[j0] = rowOf[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const col = new Int32Array(n);
  for (let j = 1; j <= n; j++) col[rowOf[j]! - 1] = j - 1;
  return col;
}

/** Σᵢ cost[i, col[i]] of an assignment (float64). */
export function assignmentValue(
  cost: Float64Array | readonly number[],
  n: number,
  col: ArrayLike<number>,
): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += cost[i * n + col[i]!]!;
  return total;
}
