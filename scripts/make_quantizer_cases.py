"""Golden vectors for lowbit's one quantizer (DESIGN.md), written by an independent implementation in
plain Python (struct for float32 rounding, round() for half-to-even). The TS exporter, the Python
training stage and the WASM runtime are all tested against test/fixtures/quantizer_cases.json.

    python3 scripts/make_quantizer_cases.py > test/fixtures/quantizer_cases.json

Formula, every step rounded to float32 in this order:
    code  = clamp(round_half_even(f32(f32(w / alpha) * k)), -k, k),  k = 2^(bits-1) - 1
    step  = f32(alpha / k)          (the stored scale; alpha = 0 gives codes 0 and step 0)
    w_hat = f32(code * step)
alpha per block: max|w| ("maxabs"), or ("mse") the f32(max|w| * i / 50), i = 50..1, with the smallest
sum of squared error (first strict minimum), scored on the sample floor(j * n / 65536) when n > 65536.
Activations per row: scale = f32(max(max|x|, 1e-30) / 127), x_hat = f32(clamp(rhe(f32(x / scale)), ±127) * scale).
"""

import json
import math
import random
import struct
import sys

MSE_CANDIDATES = 50
MSE_SAMPLE = 65536
ABSMAX_FLOOR = 1e-30


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def quantize_value(w, alpha, k):
    q = round(f32(f32(w / alpha) * k))  # Python's round() is half-to-even
    return max(-k, min(k, q))


def mse_alpha(values, k):
    top = max(abs(v) for v in values)
    if top == 0:
        return 0.0
    n = len(values)
    sample = [values[(j * n) // MSE_SAMPLE] for j in range(MSE_SAMPLE)] if n > MSE_SAMPLE else values
    best, best_err = top, math.inf
    for i in range(MSE_CANDIDATES, 0, -1):
        alpha = f32(top * (i / MSE_CANDIDATES))
        step = f32(alpha / k)
        err = 0.0
        for v in sample:
            d = v - f32(quantize_value(v, alpha, k) * step)
            err += d * d
        if err < best_err:
            best, best_err = alpha, err
    return best


def quantize(w, shape, input_axis, bits, group_size, clip):
    """w: flat row-major list of f32 values of a (rows, cols) matrix. Returns (codes, scale, scale_shape)."""
    k = 2 ** (bits - 1) - 1
    rows, cols = shape
    if group_size == 0:
        blocks, scale_shape = [list(range(rows * cols))], []
    elif input_axis == 0:
        groups = -(-rows // group_size)
        scale_shape = [groups, cols]
        blocks = [[r * cols + c for r in range(g * group_size, min(rows, (g + 1) * group_size))]
                  for g in range(groups) for c in range(cols)]
    else:
        groups = -(-cols // group_size)
        scale_shape = [rows, groups]
        blocks = [[r * cols + c for c in range(g * group_size, min(cols, (g + 1) * group_size))]
                  for r in range(rows) for g in range(groups)]
    codes = [0] * (rows * cols)
    scale, alphas = [], []
    for idx in blocks:
        vals = [w[i] for i in idx]
        alpha = mse_alpha(vals, k) if clip == "mse" else max(abs(v) for v in vals)
        alphas.append(alpha)
        if alpha == 0:
            scale.append(0.0)
            continue
        for i in idx:
            codes[i] = quantize_value(w[i], alpha, k)
        scale.append(f32(alpha / k))
    return codes, scale, scale_shape, alphas


def hashed_values(n):
    """Deterministic f32 values both implementations can generate: ((i * 2654435761) mod 2^32) / 2^32 - 0.5,
    then f32(0.8 * u * u * u) (left to right) for heavy tails."""
    out = []
    for i in range(n):
        u = ((i * 2654435761) % 2 ** 32) / 2 ** 32 - 0.5
        out.append(f32(0.8 * u * u * u))
    return out


def digest(codes):
    return sum((i % 251 + 1) * c for i, c in enumerate(codes))


def weight_case(name, w, shape, input_axis, bits, group_size, clip, full=True):
    codes, scale, scale_shape, alphas = quantize(w, shape, input_axis, bits, group_size, clip)
    case = {"name": name, "bits": bits, "granularity": "group" if group_size else "module", "group_size": group_size,
            "input_axis": input_axis, "clip": clip, "shape": shape, "scale_shape": scale_shape, "alpha": alphas,
            "scale": scale}
    if full:
        step_of = lambda i: scale[0] if not group_size else None  # noqa: E731 (only used for module cases)
        case.update({"w": w, "codes": codes})
        if not group_size:
            case["w_hat"] = [f32(c * step_of(i)) for i, c in enumerate(codes)]
    else:
        case.update({"generator": "hashed", "codes_digest": digest(codes),
                     "code_counts": {str(v): codes.count(v) for v in sorted(set(codes))}})
    return case


def main():
    rng = random.Random(2022)
    normal = lambda n, std: [f32(rng.gauss(0, std)) for _ in range(n)]  # noqa: E731
    weights = []
    # Exact ties: with alpha = 2 and k = 1, w = ±1 gives t = ±0.5 (→ 0); w = ±2 clips to ±1.
    weights.append(weight_case("ternary ties", [2.0, 1.0, -1.0, 0.5, -2.0, 1.5, -1.5, 0.0], [2, 4], 0, 2, 0, "maxabs"))
    # With alpha = 7 and k = 7, t = w exactly: half-integers round to even.
    weights.append(weight_case("int4 ties", [7.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 6.5, -6.5, -7.0], [3, 4], 1, 4, 0, "maxabs"))
    weights.append(weight_case("all zeros", [0.0] * 6, [2, 3], 0, 4, 0, "maxabs"))
    weights.append(weight_case("all zeros mse", [0.0] * 6, [2, 3], 0, 2, 0, "mse"))
    for bits in (2, 4, 8):
        for clip in ("maxabs", "mse"):
            weights.append(weight_case(f"module {bits}-bit {clip}", normal(96, 0.02), [8, 12], 0, bits, 0, clip))
            weights.append(weight_case(f"group32 axis0 ragged {bits}-bit {clip}", normal(70 * 3, 0.05), [70, 3], 0, bits, 32, clip))
            weights.append(weight_case(f"group32 axis1 ragged {bits}-bit {clip}", normal(3 * 70, 0.05), [3, 70], 1, bits, 32, clip))
    # A block larger than the MSE sample, so the strided sample is exercised.
    for bits in (2, 4):
        weights.append(weight_case(f"sampled mse {bits}-bit", hashed_values(70001), [70001, 1], 0, bits, 0, "mse", full=False))

    activations = []
    for x in ([0.5, -1.0, 0.25, 127.0, -63.5, 0.0], [0.0] * 5, normal(33, 1.0), normal(17, 30.0), [1e-3, -2e-3, 5e-4]):
        m = max(abs(v) for v in x)
        scale = f32(max(m, f32(ABSMAX_FLOOR)) / 127)
        x_hat = [f32(max(-127, min(127, round(f32(v / scale)))) * scale) for v in x]
        activations.append({"x": x, "scale": scale, "x_hat": x_hat})

    json.dump({"about": __doc__.strip().splitlines()[0], "mse_candidates": MSE_CANDIDATES, "mse_sample": MSE_SAMPLE,
               "absmax_floor": ABSMAX_FLOOR, "weights": weights, "activations": activations}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
