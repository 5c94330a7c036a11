/**
 * LoRA in the adapter-type registry: listed by name only. The LoRA family (LoRA, rsLoRA, DoRA and
 * the PiSSA/OLoRA/LoRA-GA/EVA initialisations; peft_type "LORA") keeps its own modules —
 * ../config.ts (LoraConfig), ../match.ts (plan), ../init.ts (initialisations, residual bases),
 * ../effective.ts, ../merge.ts, ../files.ts, ../delta-lora.ts — because its initialisations
 * change the base and its files convert on save, which the generic per-module interface of
 * ./registry.ts does not need for other types. ./any.ts routes "LORA" there and every other
 * peft_type to ./apply.ts.
 */

/** PEFT's peft_type of the LoRA family. */
export const LORA_PEFT_TYPE = "LORA";

/** `finetune --adapter` names of the LoRA family (init_lora_weights / use_dora in the config). */
export const LORA_METHODS = ["lora", "dora", "pissa", "olora", "lora-ga", "eva"] as const;
