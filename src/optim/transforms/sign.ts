/** scaleBySign — u = sign(u), the direction of signSGD and Lion. */
import { numpy as np } from "@jax-js/jax";
import { stateless } from "../core.js";

/** u = sign(u): the direction of signSGD and Lion. */
export const scaleBySign = () => stateless((u) => np.sign(u));
