// Random weights for the random-checkpoint scripts (make_random_gpt2.ts, make_random_bart.ts), seeded:
// LayerNorm gains 1 + N(0, 0.1²), biases N(0, 0.01²), every other tensor N(0, std²).

import { seededRandom as mulberry32 } from "../src/runtime/sampling.js";

/** Returns fill(data, kind, std), which draws one tensor's values from the seed's stream (Box–Muller, two draws a value). */
export function randomFiller(seed: number): (data: Float32Array, kind: "layerNormGain" | "bias" | "weight", std: number) => void {
  const random = mulberry32(seed);
  const normal = (std: number): number => std * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return (data, kind, std) => {
    for (let i = 0; i < data.length; i++) data[i] = kind === "layerNormGain" ? 1 + normal(0.1) : kind === "bias" ? normal(0.01) : normal(std);
  };
}
