// ONNX protobuf helpers over onnx-proto: tensors, attributes, value infos, and reading a model back.
//
// onnx-proto is generated from ONNX 1.10, so newer enum values (IR 10+, INT4 = 22, INT2 = 26) are set
// as plain numbers through `.create()`; protobufjs encodes enum fields as their numbers either way.

import onnxProto from "onnx-proto";
import { LowbitError } from "../errors.js";

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type IModelProto = onnxProto.onnx.IModelProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type GraphProto = onnxProto.onnx.IGraphProto;

/** TensorProto.DataType numbers used by lowbit. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT64: 7, BOOL: 9, INT4: 22, INT2: 26 } as const;

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };

export function makeTensor(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: raw });
}

export function bytesOf(a: Float32Array | BigInt64Array | Int8Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Integers become INT/INTS attributes, `{float}`/`{floats}` FLOAT/FLOATS, strings STRING. */
export function makeAttribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === "string") return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === "number") return { name, type: A.INT, i: value };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if ("float" in value) return { name, type: A.FLOAT, f: value.float };
  return { name, type: A.FLOATS, floats: value.floats };
}

/** A graph input/output: element type plus dims, each a number or a symbolic name. */
export function makeValueInfo(name: string, elemType: number, dims: ReadonlyArray<number | string>): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function encodeModel(model: onnxProto.onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Decodes an ONNX file; initializer raw_data stay views into `bytes`. */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new LowbitError("not a readable ONNX file", { file, found: (err as Error).message });
  }
}

/** protobufjs decodes int64 as Long objects; dims and ints are small enough for numbers. */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === "number" ? v : v.toNumber();
}
