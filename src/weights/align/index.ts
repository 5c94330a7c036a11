/**
 * Alignment before merging (Git Re-Basin weight matching): the function-preserving permutations
 * of a LLaMA-style model (permutation.ts), the search for the one that brings a model closest to
 * a reference (weight-matching.ts), and the assignment solver underneath (lap.ts). `rankwise
 * align` is a thin layer over these.
 */
export { assignmentValue, linearSumAssignment } from "./lap.js";
export {
  checkPermutation,
  identityPermutation,
  invertPermutation,
  type LayerPermutation,
  type LlamaPermutation,
  permutationToJson,
  permuteLlama,
  randomPermutation,
} from "./permutation.js";
export {
  type WeightMatchingOptions,
  type WeightMatchingResult,
  weightMatching,
} from "./weight-matching.js";
