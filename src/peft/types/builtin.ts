/**
 * Rankwise's adapter types, registered with the type registry (./registry.ts) and with the ΔW
 * readers of `adapter convert/combine` (../delta.ts). Add a new type's import and one entry to
 * TYPES (see ./registry.ts's header).
 */
import { registerDeltaReader } from "../delta.js";
import { ADALORA } from "./adalora.js";
import { COMPACTER } from "./compacter.js";
import { DSEE } from "./dsee.js";
import { typedDeltaReader } from "./files.js";
import { FLORA } from "./flora.js";
import { IA3 } from "./ia3.js";
import { LAMDA } from "./lamda.js";
import { LOHA } from "./loha.js";
import { LOKR } from "./lokr.js";
import { LOLDU } from "./loldu.js";
import { LORA_SB } from "./lora-sb.js";
import { LORA_XS } from "./lora-xs.js";
import { LOTR } from "./lotr.js";
import { BONE, MISS } from "./miss.js";
import { RANDLORA } from "./randlora.js";
import { type AdapterType, registerAdapterType } from "./registry.js";
import { SALT } from "./salt.js";
import { SVFIT } from "./svfit.js";
import { SVFT } from "./svft.js";
import { VERA } from "./vera.js";

const TYPES: AdapterType[] = [IA3, LOHA, LOKR, VERA, RANDLORA, MISS, BONE, ADALORA];
// SVD/LDU-initialised types (their frozen factors are stored in the folder).
TYPES.push(LORA_XS, LORA_SB, SVFT, SVFIT, SALT, LOLDU);
// Structured LoRA variants of the seeds (LaMDA, LoTR, FLoRA, Compacter, DSEE).
TYPES.push(LAMDA, LOTR, FLORA, COMPACTER, DSEE);

for (const type of TYPES) {
  registerAdapterType(type);
  registerDeltaReader(type.peftType, typedDeltaReader(type));
}
