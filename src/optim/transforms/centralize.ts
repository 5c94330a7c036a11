/**
 * centralize — Gradient Centralization (Yong et al. 2020): for leaves with ≥ 2 dims,
 * g ← g − mean(g over every axis but the first), i.e. each output row has zero mean.
 * Vectors and scalars pass through.
 */
import { stateless } from "../core.js";

/**
 * Gradient centralization: leaves with two or more axes lose their mean over every axis but the
 * first.
 */
export const centralize = () =>
  stateless((g) => {
    if (g.ndim < 2) return g;
    const axes = Array.from({ length: g.ndim - 1 }, (_, i) => i + 1);
    return g.ref.sub(g.mean(axes, { keepdims: true }));
  });
