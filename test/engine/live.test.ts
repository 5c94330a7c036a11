import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import { liveBuffers, setup } from "../helpers/engine.js";

beforeAll(setup);

test("liveBuffers counts realised arrays and their release", async () => {
  const before = await liveBuffers();
  const a = np.array([1, 2, 3, 4]);
  const b = a.ref.mul(2).add(1);
  b.ref.dataSync();
  expect(await liveBuffers()).toBeGreaterThan(before);
  a.dispose();
  b.dispose();
  expect(await liveBuffers()).toBe(before);
});
