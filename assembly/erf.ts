// erf in f64 for the kernels (AssemblyScript has no built-in), and through it the exact GELU of BART's
// activation_function "gelu" (assembly/ops.ts, geluErf). Not a general math library: erf alone, within
// about one f64 ulp of the true value (max |error| 1.1e-16 measured over [−7, 7] against 320-bit values,
// test/assembly/kernels.test.ts), exactly ±1 for |x| ≥ 6.
//
// src/reference/erf.ts repeats this file operation for operation, so the TypeScript reference forward and
// the kernels produce the same f32 GELU outputs bit for bit (a one-ulp difference ahead of an int8
// quantizer can flip a code: src/reference/common.ts, header). Only f64 +, −, ×, ÷ on literals and tabled
// values are used, no exp or other libm call (V8's and AssemblyScript's differ in the last bit), so the two
// agree on every input, not just almost all. Keep them in step.
//
// The algorithm, Taylor series only (DLMF 7.6.1 about 0; about c from the ODE y″ + 2x y′ = 0, DLMF 7.10.1):
//   |x| < 1/8      erf x = Σₙ mₙ x²ⁿ⁺¹, n = 0..6, mₙ = (2/√π) (−1)ⁿ / (n! (2n+1)), Horner in x², times x;
//   1/8 ≤ |x| < 6  about the centre c = (2j+1)/16 of the interval [j/8, (j+1)/8) holding |x| (j = 1..47):
//                  erf(c + h) = Σₖ aₖ hᵏ, k = 0..11, |h| ≤ 1/16, Horner in h, with a₀ = erf c and
//                  a₁ = (2/√π) e^(−c²) tabled below (the 300-bit values rounded to f64), and
//                  a_{k+2} = −2 (c (k+1) a_{k+1} + k aₖ) / ((k+1)(k+2)) (y″ = −2 (c + h) y′ term by term);
//                  the sign of x applied last (erf is odd);
//   |x| ≥ 6        ±1: erfc 6 ≈ 2.2e-17 is under half an ulp of 1;   NaN → NaN.
// The coefficients mₙ and aₖ are computed once, when the module starts, in the order written in init().
// Degree 11 and width 1/8 keep the truncation under 1e-17; each erf costs one table row and 11 multiply-adds.

const TWO_OVER_SQRT_PI: f64 = 1.1283791670955126; // 2/√π rounded to f64
const MACLAURIN_TERMS = 7; // m₀ … m₆
const CENTRES = 47; // c = (2j+1)/16, j = 1..47
const DEGREE = 11; // a₀ … a₁₁ per centre

/** (erf c, (2/√π) e^(−c²)) for c = (2j+1)/16, j = 1..47: (47, 2) f64. */
const AT = memory.data<f64>([
  0.20911767705937584, 1.0893988034775672, // 3/16
  0.341468633501595, 1.0233954666001974, // 5/16
  0.463898135749933, 0.9318121761288343, // 7/16
  0.5736744566155919, 0.8223213592243077, // 9/16
  0.6690846628860813, 0.7033687321576001, // 11/16
  0.749464025586362, 0.5831131597762814, // 13/16
  0.8151024010343998, 0.46854458689539813, // 15/16
  0.8670582694349528, 0.36490289117800395, // 17/16
  0.9069217197816865, 0.2754431531414426, // 19/16
  0.9365685747113888, 0.20151851572462268, // 21/16
  0.95794060605646, 0.14289802537593801, // 23/16
  0.9728746138209335, 0.09821228080128248, // 25/16
  0.982989716601978, 0.06542348334839115, // 27/16
  0.9896306257947752, 0.042240575617668474, // 29/16
  0.9938568063952132, 0.02643347677803051, // 31/16
  0.9964637508747902, 0.01603271410867742, // 33/16
  0.9980225088163892, 0.009425146402332227, // 35/16
  0.9989259267092776, 0.0053702865406233535, // 37/16
  0.9994334567454198, 0.0029657539001367375, // 39/16
  0.9997098311383266, 0.0015874536692229567, // 41/16
  0.9998557114825746, 0.0008235601143850599, // 43/16
  0.9999303492456073, 0.0004141120318701683, // 45/16
  0.9999673647128524, 0.00020182208573230978, // 47/16
  0.9999851585892071, 9.53340029043727e-05, // 49/16
  0.999993449849224, 4.364708704085379e-05, // 51/16
  0.9999971946873958, 1.936827746725363e-05, // 53/16
  0.9999988341746511, 8.330192337095466e-06, // 55/16
  0.999999529912161, 3.4725408019520497e-06, // 57/16
  0.9999998160959875, 1.4030333138998202e-06, // 59/16
  0.9999999302015868, 5.494357401381652e-07, // 61/16
  0.9999999743008093, 2.0854228461413665e-07, // 63/16
  0.9999999908210709, 7.671841912446446e-08, // 65/16
  0.999999996819877, 2.7354794758006753e-08, // 67/16
  0.9999999989312964, 9.453564107008231e-09, // 69/16
  0.9999999996516503, 3.166547331952291e-09, // 71/16
  0.9999999998898706, 1.0280274043253105e-09, // 73/16
  0.999999999966232, 3.2348317508052715e-10, // 75/16
  0.9999999999899583, 9.865679436750351e-11, // 77/16
  0.999999999997104, 2.916289271117541e-11, // 79/16
  0.99999999999919, 8.355308652070829e-12, // 81/16
  0.9999999999997803, 2.3201854169034982e-12, // 83/16
  0.9999999999999423, 6.244694333342759e-13, // 85/16
  0.9999999999999852, 1.629025847446949e-13, // 87/16
  0.9999999999999963, 4.118822368239712e-14, // 89/16
  0.9999999999999991, 1.009360830617358e-14, // 91/16
  0.9999999999999998, 2.3974421125110683e-15, // 93/16
  1.0, 5.519225130576564e-16, // 95/16
]);

const MACLAURIN = memory.data(MACLAURIN_TERMS << 3, 8); // (7) f64: m₀ … m₆
const TAYLOR = memory.data(CENTRES * (DEGREE + 1) << 3, 8); // (47, 12) f64: a₀ … a₁₁ per centre

function init(): void {
  let factorial: f64 = 1;
  for (let n = 0; n < MACLAURIN_TERMS; n++) {
    if (n > 0) factorial *= <f64>n;
    const m = (n & 1 ? -TWO_OVER_SQRT_PI : TWO_OVER_SQRT_PI) / (factorial * <f64>(2 * n + 1));
    store<f64>(MACLAURIN + (<usize>n << 3), m);
  }
  for (let j = 1; j <= CENTRES; j++) {
    const c = <f64>(2 * j + 1) * 0.0625;
    const a = TAYLOR + (<usize>((j - 1) * (DEGREE + 1)) << 3);
    store<f64>(a, load<f64>(AT + (<usize>(2 * (j - 1)) << 3)));
    store<f64>(a + 8, load<f64>(AT + (<usize>(2 * (j - 1) + 1) << 3)));
    for (let k = 0; k + 2 <= DEGREE; k++) {
      const next = load<f64>(a + (<usize>(k + 1) << 3));
      const cur = load<f64>(a + (<usize>k << 3));
      store<f64>(a + (<usize>(k + 2) << 3), (-2 * (c * <f64>(k + 1) * next + <f64>k * cur)) / <f64>((k + 1) * (k + 2)));
    }
  }
}
init();

/** The error function, in the order of the banner above. */
export function erf(x: f64): f64 {
  const a = abs(x);
  if (a < 0.125) {
    const z = x * x;
    let p = load<f64>(MACLAURIN + ((MACLAURIN_TERMS - 1) << 3));
    for (let n = MACLAURIN_TERMS - 2; n >= 0; n--) p = p * z + load<f64>(MACLAURIN + (<usize>n << 3));
    return x * p;
  }
  if (!(a < 6)) return x != x ? x : x > 0 ? 1 : -1;
  const j = <i32>(a * 8); // 1..47
  const h = a - <f64>(2 * j + 1) * 0.0625; // exact (Sterbenz)
  const t = TAYLOR + (<usize>((j - 1) * (DEGREE + 1)) << 3);
  let p = load<f64>(t + (DEGREE << 3));
  for (let k = DEGREE - 1; k >= 0; k--) p = p * h + load<f64>(t + (<usize>k << 3));
  return x < 0 ? -p : p;
}
