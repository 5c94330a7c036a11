/**
 * What each adapter type's paper claims, by peft_type, for bench/adapters.ts and its section of
 * docs/benchmarks.md. Taken from the abstracts in the project's seed list (shared/seeds/) where
 * the paper is there; the others (VeRA, IA³, LoKr/LyCORIS) from the paper's own abstract, said
 * so in `source`. Every claim was measured on 7B LLaMA-class or RoBERTa/BERT/T5-class models
 * (or vision/medical models where said), not on a model of the size benchmarked here.
 */
export interface AdapterClaim {
  paper: string;
  /** Where the sentence comes from. */
  source: string;
  claim: string;
}

const SEED = "abstract, seed list";
const PAPER = "abstract, not in the seed list";

export const ADAPTER_CLAIMS: Record<string, AdapterClaim> = {
  LORA: {
    paper: "Hu et al. 2021",
    source: PAPER,
    claim:
      "On GPT-3 175B, 10,000× fewer trainable parameters and 3× less GPU memory than full fine-tuning, on par or better in quality.",
  },
  IA3: {
    paper: "Liu et al. 2022 (T-Few)",
    source: PAPER,
    claim:
      "Learned vectors that rescale activations (T0-3B/11B) train far fewer parameters than LoRA and beat few-shot in-context learning.",
  },
  LOHA: {
    paper: "Hyeon-Woo et al. 2022 (FedPara)",
    source: SEED,
    claim:
      "A Hadamard product of low-rank factors is not restricted to low rank: comparable performance at 3 to 10 times lower communication cost than the original model.",
  },
  LOKR: {
    paper: "Yeh et al. 2024 (LyCORIS)",
    source: PAPER,
    claim:
      "Kronecker-factored updates (Stable Diffusion fine-tuning) reach full-rank-capable updates with few parameters.",
  },
  VERA: {
    paper: "Kopiczko et al. 2024",
    source: PAPER,
    claim:
      "Frozen shared random matrices with trained scaling vectors: 10× fewer trainable parameters than LoRA at the same performance (GLUE, E2E, instruction tuning of LLaMA-2 7B/13B).",
  },
  RANDLORA: {
    paper: "Albert et al. 2025",
    source: SEED,
    claim:
      "Full-rank updates from learned combinations of frozen random low-rank matrices reduce, and sometimes eliminate, the gap between LoRA and full fine-tuning.",
  },
  MISS: {
    paper: "Kang et al. 2024 (Bone, now MiSS)",
    source: SEED,
    claim:
      "Block-wise updates guided by the weights converge faster and fit better: on LLaMA2-7B/MetaMathQA, GSM8k 49.36 and MATH 8.8, 5.84 and 1.96 points above PiSSA.",
  },
  ADALORA: {
    paper: "Zhang et al. 2023",
    source: SEED,
    claim:
      "Allocating the parameter budget by importance gives notable improvement over baselines, especially in the low budget settings.",
  },
  LORA_XS: {
    paper: "Bałazy et al. 2024",
    source: SEED,
    claim:
      "A trained r×r matrix between frozen SVD factors: over 100× fewer trainable parameters than LoRA in 7B models, competitive performance.",
  },
  LORA_SB: {
    paper: "Ponkshe et al. 2024",
    source: SEED,
    claim:
      "LoRA-XS's architecture initialised from the first gradient's optimal low-rank approximation exceeds standard LoRA with 27-90 times fewer learnable parameters and outperforms LoRA-XS.",
  },
  SVFT: {
    paper: "Lingam et al. 2024",
    source: SEED,
    claim:
      "Recovers up to 96% of full fine-tuning's performance training 0.006 to 0.25% of the parameters (others: up to 85% with 0.03 to 0.8%).",
  },
  SVFIT: {
    paper: "Sun et al. 2024",
    source: SEED,
    claim:
      "Training the top-r singular values outperforms LoRA with 16 times fewer trainable parameters.",
  },
  SALT: {
    paper: "Elsayed et al. 2025",
    source: SEED,
    claim:
      "Scale/shift of the top singular values plus a low-rank update of the rest beats LoRA and SVD methods by 2 to 5% Dice with 3.9% trainable parameters (medical segmentation).",
  },
  LOLDU: {
    paper: "Shi et al. 2024",
    source: SEED,
    claim:
      "Training the diagonal of an LDU factorisation cuts trainable parameters 2600× against regular PEFT methods at comparable performance.",
  },
  LAMDA: {
    paper: "Azizi et al. 2024",
    source: SEED,
    claim:
      "A trained low-dimensional square core, a frozen projection and a gradually frozen second one match or beat alternatives with up to 17.7× fewer parameter updates and up to 1.32× lower peak GPU memory.",
  },
  LOTR: {
    paper: "Bershatsky et al. 2024",
    source: SEED,
    claim:
      "Sharing the left and right factors across layers gives better parameter efficiency than LoRA, especially for deep models; the core can be made arbitrarily small.",
  },
  FLORA: {
    paper: "Si et al. 2024",
    source: SEED,
    claim:
      "A Tucker low-rank core space keeps the structure of N-dimensional parameter spaces; effectiveness validated on vision, language and multi-modal tasks (no number in the abstract).",
  },
  COMPACTER: {
    paper: "Mahabadi et al. 2021",
    source: SEED,
    claim:
      "Training 0.047% of a pretrained model's parameters performs on par with full fine-tuning on GLUE and beats it on SuperGLUE (T5).",
  },
  DSEE: {
    paper: "Chen et al. 2023",
    source: SEED,
    claim:
      "Sparsity-aware low-rank updates: comparable performance with 0.5% trainable parameters and about 25% fewer inference FLOPs on BERT.",
  },
};
