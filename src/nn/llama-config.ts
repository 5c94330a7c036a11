/**
 * Configuration of the LLaMA-style decoder, with the field names of Hugging Face's LlamaConfig
 * (`config.json` of a LlamaForCausalLM checkpoint), and size presets.
 *
 * `toHfConfig` writes what transformers expects in `config.json`; `fromHfConfig` reads one back
 * (from us or from the Hub), fills Hugging Face's defaults for missing fields and rejects what
 * this model does not implement (rope_scaling, attention/MLP biases, activations other than silu).
 */

export interface LlamaConfig {
  model_type: "llama";
  architectures: ["LlamaForCausalLM"];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** Key/value heads (grouped-query attention); equal to num_attention_heads for plain MHA. */
  num_key_value_heads: number;
  /** Per-head width; hidden_size / num_attention_heads unless set. */
  head_dim: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  /** Standard deviation of the normal init of linear and embedding weights. */
  initializer_range: number;
  hidden_act: "silu";
  torch_dtype: "float32";
  /**
   * SLTrain's model option (./sparse-model.ts): the decoder linear modules holding sparse values
   * are (α/r)·B A + S, S on supports drawn from `seed`. Absent for other models.
   */
  rankwise_sltrain?: SltrainConfig;
}

/**
 * SLTrain's parametrisation of a model's decoder linear modules (./sparse-model.ts), recorded in
 * config.json as `"rankwise_sltrain"`: rank r of B A, scale numerator α (the product is scaled by
 * α/r), density δ of the sparse part S and the seed its supports are drawn from.
 */
export interface SltrainConfig {
  rank: number;
  alpha: number;
  density: number;
  seed: number;
}

/** Fields a caller must give; the rest have Hugging Face's defaults. */
export type LlamaConfigInput = Pick<
  LlamaConfig,
  "vocab_size" | "hidden_size" | "intermediate_size" | "num_hidden_layers" | "num_attention_heads"
> &
  Partial<Omit<LlamaConfig, "model_type" | "architectures" | "hidden_act" | "torch_dtype">>;

/** Build a complete, validated configuration; missing fields take Hugging Face's defaults. */
export function llamaConfig(input: LlamaConfigInput): LlamaConfig {
  if (input.head_dim === undefined && input.hidden_size % input.num_attention_heads !== 0) {
    throw new RangeError(
      `hidden_size (${input.hidden_size}) must be a multiple of num_attention_heads (${input.num_attention_heads}) unless head_dim is set`,
    );
  }
  const config: LlamaConfig = {
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    vocab_size: input.vocab_size,
    hidden_size: input.hidden_size,
    intermediate_size: input.intermediate_size,
    num_hidden_layers: input.num_hidden_layers,
    num_attention_heads: input.num_attention_heads,
    num_key_value_heads: input.num_key_value_heads ?? input.num_attention_heads,
    head_dim: input.head_dim ?? input.hidden_size / input.num_attention_heads,
    max_position_embeddings: input.max_position_embeddings ?? 2048,
    rms_norm_eps: input.rms_norm_eps ?? 1e-6,
    rope_theta: input.rope_theta ?? 10000,
    tie_word_embeddings: input.tie_word_embeddings ?? false,
    initializer_range: input.initializer_range ?? 0.02,
    hidden_act: "silu",
    torch_dtype: "float32",
  };
  const sl = input.rankwise_sltrain;
  if (sl !== undefined && sl !== null) {
    config.rankwise_sltrain = {
      rank: sl.rank,
      alpha: sl.alpha,
      density: sl.density,
      seed: sl.seed,
    };
  }
  validateLlamaConfig(config);
  return config;
}

const positiveInt = (name: string, value: unknown): void => {
  if (typeof value !== "number")
    throw new TypeError(`${name} must be a number, got ${show(value)}`);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
};

const positiveNumber = (name: string, value: unknown): void => {
  if (typeof value !== "number")
    throw new TypeError(`${name} must be a number, got ${show(value)}`);
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive finite number, got ${value}`);
  }
};

const show = (value: unknown): string => (value === undefined ? "nothing" : JSON.stringify(value));

/** Throw a TypeError/RangeError naming the first bad field. */
export function validateLlamaConfig(config: LlamaConfig): void {
  for (const name of [
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
  ] as const) {
    positiveInt(name, config[name]);
  }
  for (const name of ["rms_norm_eps", "rope_theta", "initializer_range"] as const) {
    positiveNumber(name, config[name]);
  }
  if (config.num_attention_heads % config.num_key_value_heads !== 0) {
    throw new RangeError(
      `num_key_value_heads must divide num_attention_heads (${config.num_attention_heads}), got ${config.num_key_value_heads}`,
    );
  }
  if (config.head_dim % 2 !== 0) {
    throw new RangeError(`head_dim must be even for rotary embeddings, got ${config.head_dim}`);
  }
  if (typeof config.tie_word_embeddings !== "boolean") {
    throw new TypeError(
      `tie_word_embeddings must be true or false, got ${show(config.tie_word_embeddings)}`,
    );
  }
  if (config.rankwise_sltrain !== undefined) validateSltrain(config.rankwise_sltrain);
}

/** rank a positive integer, alpha > 0, density in (0, 1), seed an integer in [0, 2³²). */
function validateSltrain(sl: SltrainConfig): void {
  if (typeof sl !== "object" || sl === null) {
    throw new TypeError(`rankwise_sltrain must be an object, got ${show(sl)}`);
  }
  positiveInt("rankwise_sltrain.rank", sl.rank);
  positiveNumber("rankwise_sltrain.alpha", sl.alpha);
  if (typeof sl.density !== "number" || !(sl.density > 0 && sl.density < 1)) {
    throw new RangeError(`rankwise_sltrain.density must be in (0, 1), got ${show(sl.density)}`);
  }
  if (!Number.isInteger(sl.seed) || sl.seed < 0 || sl.seed >= 2 ** 32) {
    throw new RangeError(
      `rankwise_sltrain.seed must be an integer in [0, 2^32), got ${show(sl.seed)}`,
    );
  }
}

/** The JSON object to write as `config.json` (Hugging Face layout). */
export function toHfConfig(config: LlamaConfig): Record<string, unknown> {
  validateLlamaConfig(config);
  return {
    architectures: ["LlamaForCausalLM"],
    attention_bias: false,
    attention_dropout: 0.0,
    head_dim: config.head_dim,
    hidden_act: "silu",
    hidden_size: config.hidden_size,
    initializer_range: config.initializer_range,
    intermediate_size: config.intermediate_size,
    max_position_embeddings: config.max_position_embeddings,
    mlp_bias: false,
    model_type: "llama",
    num_attention_heads: config.num_attention_heads,
    num_hidden_layers: config.num_hidden_layers,
    num_key_value_heads: config.num_key_value_heads,
    pretraining_tp: 1,
    rms_norm_eps: config.rms_norm_eps,
    rope_scaling: null,
    rope_theta: config.rope_theta,
    tie_word_embeddings: config.tie_word_embeddings,
    torch_dtype: "float32",
    use_cache: true,
    vocab_size: config.vocab_size,
    ...(config.rankwise_sltrain ? { rankwise_sltrain: { ...config.rankwise_sltrain } } : {}),
  };
}

/**
 * Read a parsed `config.json`. Missing optional fields take Hugging Face's LlamaConfig defaults;
 * unsupported features throw with the field's name.
 */
export function fromHfConfig(json: unknown): LlamaConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError(`config.json must hold a JSON object, got ${show(json)}`);
  }
  const c = json as Record<string, unknown>;
  if (c.model_type !== "llama") {
    throw new RangeError(`config.json: model_type must be "llama", got ${show(c.model_type)}`);
  }
  if (c.architectures !== undefined) {
    const ok = Array.isArray(c.architectures) && c.architectures.includes("LlamaForCausalLM");
    if (!ok) {
      throw new RangeError(
        `config.json: architectures must include "LlamaForCausalLM", got ${show(c.architectures)}`,
      );
    }
  }
  const unsupported: [string, (v: unknown) => boolean, string][] = [
    ["hidden_act", (v) => v === undefined || v === "silu", '"silu"'],
    ["rope_scaling", (v) => v === undefined || v === null, "null"],
    ["attention_bias", (v) => v === undefined || v === false, "false"],
    ["mlp_bias", (v) => v === undefined || v === false, "false"],
    ["pretraining_tp", (v) => v === undefined || v === 1, "1"],
  ];
  for (const [name, ok, accepted] of unsupported) {
    if (!ok(c[name])) {
      throw new RangeError(
        `config.json: ${name} ${show(c[name])} is not supported (accepted: ${accepted})`,
      );
    }
  }
  const required = [
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
  ] as const;
  for (const name of required) {
    if (c[name] === undefined) throw new TypeError(`config.json: ${name} is missing`);
  }
  const optional = <T>(name: string): T | undefined =>
    c[name] === undefined || c[name] === null ? undefined : (c[name] as T);
  try {
    return llamaConfig({
      vocab_size: c.vocab_size as number,
      hidden_size: c.hidden_size as number,
      intermediate_size: c.intermediate_size as number,
      num_hidden_layers: c.num_hidden_layers as number,
      num_attention_heads: c.num_attention_heads as number,
      num_key_value_heads: optional("num_key_value_heads"),
      head_dim: optional("head_dim"),
      max_position_embeddings: optional("max_position_embeddings"),
      rms_norm_eps: optional("rms_norm_eps"),
      rope_theta: optional("rope_theta"),
      tie_word_embeddings: optional("tie_word_embeddings"),
      initializer_range: optional("initializer_range"),
      rankwise_sltrain: optional("rankwise_sltrain"),
    });
  } catch (error) {
    if (error instanceof Error) error.message = `config.json: ${error.message}`;
    throw error;
  }
}

/** The model sizes {@link llamaPreset} knows ("tiny" is for tests). */
export const LLAMA_PRESETS = ["tiny", "small", "default", "medium"] as const;
/** One of {@link LLAMA_PRESETS}. */
export type LlamaPreset = (typeof LLAMA_PRESETS)[number];

const PRESETS: Record<LlamaPreset, Omit<LlamaConfigInput, "vocab_size">> = {
  // A few thousand parameters at character level: for tests.
  tiny: {
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
  },
  // ~0.2M.
  small: {
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    max_position_embeddings: 256,
  },
  // ~0.8M: trains in minutes on two CPU cores at character level.
  default: {
    hidden_size: 128,
    intermediate_size: 352,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    max_position_embeddings: 256,
  },
  // ~4.4M with grouped-query attention.
  medium: {
    hidden_size: 256,
    intermediate_size: 688,
    num_hidden_layers: 6,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    max_position_embeddings: 512,
  },
};

/**
 * A preset configuration for a tokenizer's vocabulary size. Presets tie the embeddings (the
 * small-model convention, e.g. SmolLM); `overrides` can change any field.
 */
export function llamaPreset(
  name: LlamaPreset,
  vocabSize: number,
  overrides: Partial<LlamaConfigInput> = {},
): LlamaConfig {
  const preset = PRESETS[name];
  if (preset === undefined) {
    throw new RangeError(`preset must be one of ${LLAMA_PRESETS.join(", ")}, got ${show(name)}`);
  }
  return llamaConfig({ ...preset, tie_word_embeddings: true, ...overrides, vocab_size: vocabSize });
}

/** The seven decoder linear layers of a block, by their names under `model.layers.<i>.`. */
export const BLOCK_LINEARS = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
] as const;
