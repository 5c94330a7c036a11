/**
 * What each merge method's paper (or reference) claims, paraphrased with the numbers its
 * abstract or README gives, for the table beside the merge benchmark's measurements
 * (bench/merge.ts, bench/report.ts). The papers measure ViT image classifiers and LLMs of
 * 100M–70B parameters on task suites; the benchmark merges two fine-tunes of a byte-level model
 * under a million parameters, so these are context for the measurements, not claims it can test.
 */
export interface MergeClaim {
  paper: string;
  claim: string;
}

const DARE: MergeClaim = {
  paper: "Yu et al. 2024 (DARE)",
  claim:
    "Fine-tuning deltas are small (within 0.002) and redundant: dropping 90% or even 99% of them at random and rescaling the rest keeps the abilities, and sparsified this way several task-specific LMs merge into one with the abilities of each.",
};
const BREADCRUMBS: MergeClaim = {
  paper: "Davari & Belilovsky 2024 (Model Breadcrumbs)",
  claim:
    "Masking both the largest outliers and the negligible changes of each task vector improves multi-task performance, with hyper-parameters that carry over to new tasks without re-tuning.",
};
const DELLA: MergeClaim = {
  paper: "Deep et al. 2024 (DELLA)",
  claim:
    "Drop probabilities ranked by magnitude (MAGPRUNE) beat DARE and TIES: on LM, math and code experts, +2.4 points on average over pruning baselines (+3.6 over TIES, +1.2 over DARE) and +11.1 over task arithmetic.",
};
const MATS: MergeClaim = {
  paper: "Tam, Bansal & Raffel 2024 (MaTS)",
  claim:
    "Matching models in their task parameter subspaces, solved by conjugate gradient, outperforms the closed-form solutions (averaging, Fisher, RegMean) and reaches state-of-the-art multitask and intermediate-task merging (no figure in the abstract).",
};
const ISO: MergeClaim = {
  paper: "Marczak et al. 2025 (Iso-C, Iso-CTS)",
  claim:
    "Flattening the merged task matrix's singular spectrum (Iso-C), and adding task-specific subspaces (Iso-CTS), aligns it with each task's subspace and gives state-of-the-art merging on vision and language tasks (no figure in the abstract).",
};

export const MERGE_CLAIMS: Record<string, MergeClaim> = {
  linear: {
    paper: "Wortsman et al. 2022 (model soups)",
    claim:
      "Averaging the weights of models fine-tuned with different hyper-parameters often improves accuracy and robustness at no inference cost (a ViT-G soup: 90.94% ImageNet top-1). Soups average fine-tunes of one task; here the two tasks differ.",
  },
  task_arithmetic: {
    paper: "Ilharco et al. 2023 (task arithmetic)",
    claim:
      "Adding task vectors (fine-tuned − pre-trained weights) can improve performance on several tasks at once; negating one lowers its task with little change elsewhere (no single figure in the abstract).",
  },
  ties: {
    paper: "Yadav et al. 2023 (TIES-merging)",
    claim:
      "Resetting small changes, electing a sign per parameter and merging only agreeing values removes interference that plain merging loses information to; outperforms earlier merging methods across modalities, model sizes and settings (no single figure in the abstract).",
  },
  dare_linear: DARE,
  dare_ties: DARE,
  breadcrumbs: BREADCRUMBS,
  breadcrumbs_ties: BREADCRUMBS,
  della: DELLA,
  della_linear: DELLA,
  slerp: {
    paper: "Shoemake 1985; mergekit",
    claim:
      "Interpolating along the arc between two weight vectors keeps their norm where a straight average shrinks it; a community recipe with no measured merging claim.",
  },
  nuslerp: {
    paper: "mergekit (no paper)",
    claim: "slerp with per-model weights, and of the task vectors when a base is given.",
  },
  multislerp: {
    paper: "Goddard 2025 (mergekit, blog)",
    claim: "slerp generalised to any number of models through the tangent space at their mean.",
  },
  karcher: {
    paper: "Karcher 1977; mergekit",
    claim:
      "The Riemannian mean of the weights on the sphere: slerp's average for any number of models.",
  },
  model_stock: {
    paper: "Jang et al. 2024 (Model Stock)",
    claim:
      "With only two fine-tuned models, a layer-wise pull of their average toward the pre-trained weights (set by the angle between them) lands near the centre of the fine-tuned weights and beats model soups of many models on ImageNet and its distribution shifts (CLIP). It assumes fine-tunes of one task.",
  },
  nearswap: {
    paper: "mergekit (no paper)",
    claim:
      "Take the other model's weights where they are close to the base's, keep the base's where they differ.",
  },
  sce: {
    paper: "Wan et al. 2024 (FuseChat, SCE)",
    claim:
      "Merging coefficients from the magnitude of each model's update (select, calculate, erase) make the fused FuseChat-7B comparable to Mixtral-8x7B-Instruct and close to GPT-3.5-Turbo-1106 on MT-Bench.",
  },
  passthrough: {
    paper: "mergekit (no paper)",
    claim:
      "Copies layers unchanged: the tool behind layer-stacking merges, not a merge rule to test.",
  },
  iso_c: ISO,
  iso_cts: ISO,
  mats: MATS,
  mats_fisher: MATS,
  fisher: {
    paper: "Matena & Raffel 2022 (Fisher merging)",
    claim:
      "Weighting each parameter by its diagonal Fisher information (a Laplace approximation of each model's posterior) improves on plain averaging and is competitive with gradient-based transfer at far lower cost.",
  },
  uncertainty_gm: {
    paper: "Daheim et al. 2024 (uncertainty-based gradient matching)",
    claim:
      "Weighted averaging errs by the mismatch of the models' gradients; weighting by uncertainty (Hessian estimates) reduces it and improves LLM and ViT merges consistently, with more robustness to hyper-parameters.",
  },
  orthogonal_continual: {
    paper: "Tang et al. 2025 (OPCM)",
    claim:
      "Merging models one at a time, each update projected orthogonally to the merged updates so far and rescaled, keeps memory constant in the number of models and improves average accuracy by 5–8% on CLIP-ViT task sequences.",
  },
};
