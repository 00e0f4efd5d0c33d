// The one table of quantized weight formats, read by the exporter, the reference forward and the runtime.
//
// Symmetric uniform quantizer (DESIGN.md): k = 2^(b-1) - 1 levels each side, codes in [-k, k], stored
// as two's-complement b-bit fields packed LSB-first, as ONNX's INT2/INT4/INT8 tensors are.

export type WeightBits = 2 | 4 | 8;

export interface QuantFormat {
  bits: WeightBits;
  /** k: the largest code; codes lie in [-k, k] (2-bit is ternary). */
  maxCode: number;
  /** Codes per stored byte. */
  codesPerByte: number;
  /** ONNX TensorProto.DataType of the stored codes (INT2 = 26, INT4 = 22, INT8 = 3). */
  onnxDataType: number;
  /** Lowest ai.onnx opset whose DequantizeLinear takes this type with block_size. */
  minOpset: number;
}

export const QUANT_FORMATS: Record<WeightBits, QuantFormat> = {
  2: { bits: 2, maxCode: 1, codesPerByte: 4, onnxDataType: 26, minOpset: 25 },
  4: { bits: 4, maxCode: 7, codesPerByte: 2, onnxDataType: 22, minOpset: 21 },
  8: { bits: 8, maxCode: 127, codesPerByte: 1, onnxDataType: 3, minOpset: 21 },
};

export const SUPPORTED_WEIGHT_BITS: readonly number[] = [2, 4, 8];
export const SUPPORTED_GROUP_SIZES: readonly number[] = [32, 64, 128, 256];

/** Bytes that `count` packed codes occupy: ceil(count * bits / 8). */
export function packedBytes(count: number, bits: WeightBits): number {
  return Math.ceil(count / QUANT_FORMATS[bits].codesPerByte);
}

/** Packs codes LSB-first, `8 / bits` per byte, two's complement (ONNX INT2/INT4/INT8 layout). */
export function packCodes(codes: Int8Array, bits: WeightBits): Uint8Array {
  if (bits === 8) return new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength);
  const perByte = QUANT_FORMATS[bits].codesPerByte;
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(packedBytes(codes.length, bits));
  for (let i = 0; i < codes.length; i++) {
    out[(i / perByte) | 0] |= (codes[i] & mask) << ((i % perByte) * bits);
  }
  return out;
}

/** Inverse of packCodes: sign-extends each b-bit field back to an int8 code. */
export function unpackCodes(packed: Uint8Array, bits: WeightBits, count: number): Int8Array {
  if (bits === 8) return new Int8Array(packed.buffer, packed.byteOffset, count);
  const perByte = QUANT_FORMATS[bits].codesPerByte;
  const shift = 32 - bits;
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const field = packed[(i / perByte) | 0] >> ((i % perByte) * bits);
    out[i] = (field << shift) >> shift;
  }
  return out;
}
