// ONNX protobuf helpers over onnx-proto: tensors, attributes, value infos, and reading a model back (all of it
// through protobufjs, or, for loading, only metadata and initializers by a zero-copy reader of the wire format).
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

// ─── the loader's zero-copy read ────────────────────────────────────────────────────────────────
//
// Loading needs only metadata_props and the graph's initializers: the rest of the graph is for other
// runtimes. decodeModel builds every node, attribute and value info through protobufjs, and decodes strings
// in JS: on a 34 MB GPT-2-124M file that is 30-50 ms before anything is checked. readModelParts walks the
// protobuf wire format itself, reads those two fields, and steps over the others by their wire type. It is
// stricter about framing than protobufjs: every field must lie inside its enclosing message (protobufjs
// only bounds reads by the buffer), and known fields must have their declared wire type. raw_data stay
// views into `bytes`; strings are decoded by the platform's TextDecoder.

/** One metadata_props entry; `valueBytes` is the value's UTF-8 as stored (a view into the file). */
export interface MetadataEntry {
  key: string;
  value: string;
  valueBytes: Uint8Array;
  /** Whether valueBytes is valid UTF-8 (`value` then re-encodes to exactly those bytes). */
  valueUtf8: boolean;
}

/** One graph initializer, as much of a TensorProto as the loader reads. */
export interface InitializerEntry {
  name: string;
  dataType: number;
  dims: number[];
  dataLocation: number;
  /** A view into the file's bytes (empty when the tensor has no raw_data). */
  rawData: Uint8Array;
}

export interface ModelParts {
  metadata: MetadataEntry[];
  /** Those of the last graph field, as protobufjs keeps the last occurrence of a message field. */
  initializers: InitializerEntry[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_GROUP_START = 3;
const WIRE_GROUP_END = 4;
const WIRE_FIXED32 = 5;

/** A malformed wire format; readModelParts turns it into "not a readable ONNX file". */
class WireError extends Error {}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

class WireReader {
  pos: number;
  constructor(readonly bytes: Uint8Array, start: number, readonly end: number) {
    this.pos = start;
  }

  /** Low and high 32 bits of the last varint read. */
  lo = 0;
  hi = 0;

  /** Reads a varint of up to 10 bytes into lo, hi. */
  private varint(): void {
    const b = this.bytes;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(`varint runs past the end of its message at byte ${this.pos}`);
      const byte = b[this.pos++];
      if (i < 4) lo |= (byte & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (byte & 0x0f) << 28;
        hi |= (byte & 0x7f) >> 4;
      } else hi |= (byte & 0x7f) << (7 * i - 32);
      if (byte < 0x80) {
        this.lo = lo;
        this.hi = hi;
        return;
      }
    }
    throw new WireError(`varint longer than 10 bytes at byte ${this.pos - 10}`);
  }

  /** int64 as a number, as protobufjs' Long.toNumber gives it (negative where the top bit is set). */
  int64(): number {
    this.varint();
    return (this.hi | 0) * 2 ** 32 + (this.lo >>> 0);
  }

  /** int32 / enum: the low 32 bits, signed (protobufjs' reader.int32()). */
  int32(): number {
    this.varint();
    return this.lo | 0;
  }

  /** A tag or a length: the low 32 bits, unsigned, or undefined where the value does not fit 32 bits. */
  uint32(): number | undefined {
    this.varint();
    return this.hi === 0 ? this.lo >>> 0 : undefined;
  }

  /** The [start, end) of a length-delimited field's payload; the reader moves past it. */
  span(): [number, number] {
    const length = this.uint32();
    if (length === undefined || length > this.end - this.pos) {
      throw new WireError(`field of ${length ?? "2^32 or more"} bytes at byte ${this.pos} runs past the end of its message (byte ${this.end})`);
    }
    const start = this.pos;
    this.pos += length;
    return [start, this.pos];
  }

  skip(wireType: number, field: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.int64();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_BYTES:
        this.span();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      case WIRE_GROUP_START:
        for (;;) {
          const tag = this.tag();
          if ((tag & 7) === WIRE_GROUP_END) {
            if (tag >>> 3 !== field) throw new WireError(`group ${field} ends with the end of group ${tag >>> 3}`);
            return;
          }
          this.skip(tag & 7, tag >>> 3);
        }
      default:
        throw new WireError(`invalid wire type ${wireType} at byte ${this.pos}`);
    }
  }

  /** A field's tag: protobufjs reads it as uint32 (the low 32 bits). */
  tag(): number {
    this.varint();
    return this.lo >>> 0;
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new WireError(`fixed-size field runs past the end of its message at byte ${this.pos}`);
    this.pos += n;
  }
}

/** Reads the fields of the message in [start, end), calling `onField` for each; it must consume the field or return false. */
function readMessage(bytes: Uint8Array, start: number, end: number, onField: (r: WireReader, field: number, wireType: number) => boolean): void {
  const r = new WireReader(bytes, start, end);
  while (r.pos < end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (!onField(r, field, wireType)) r.skip(wireType, field);
  }
}

function expectWire(field: number, wireType: number, expected: number, what: string): void {
  if (wireType !== expected) throw new WireError(`${what} (field ${field}) has wire type ${wireType}, expected ${expected}`);
}

function decodeString(bytes: Uint8Array): string {
  return lenientUtf8.decode(bytes);
}

function readMetadataEntry(bytes: Uint8Array, start: number, end: number): MetadataEntry {
  let key = "";
  let value: Uint8Array = bytes.subarray(0, 0);
  readMessage(bytes, start, end, (r, field, wireType) => {
    if (field !== 1 && field !== 2) return false;
    expectWire(field, wireType, WIRE_BYTES, field === 1 ? "metadata key" : "metadata value");
    const [s, e] = r.span();
    if (field === 1) key = decodeString(bytes.subarray(s, e));
    else value = bytes.subarray(s, e);
    return true;
  });
  let text: string;
  let valid = true;
  try {
    text = strictUtf8.decode(value);
  } catch {
    text = lenientUtf8.decode(value);
    valid = false;
  }
  return { key, value: text, valueBytes: value, valueUtf8: valid };
}

function readInitializer(bytes: Uint8Array, start: number, end: number): InitializerEntry {
  const t: InitializerEntry = { name: "", dataType: 0, dims: [], dataLocation: 0, rawData: bytes.subarray(0, 0) };
  readMessage(bytes, start, end, (r, field, wireType) => {
    switch (field) {
      case 1: // dims: repeated int64, packed or not
        if (wireType === WIRE_BYTES) {
          const [s, e] = r.span();
          const packed = new WireReader(bytes, s, e);
          while (packed.pos < e) t.dims.push(packed.int64());
        } else {
          expectWire(field, wireType, WIRE_VARINT, "tensor dims");
          t.dims.push(r.int64());
        }
        return true;
      case 2: // data_type: int32
        expectWire(field, wireType, WIRE_VARINT, "tensor data_type");
        t.dataType = r.int32();
        return true;
      case 8: {
        expectWire(field, wireType, WIRE_BYTES, "tensor name");
        const [s, e] = r.span();
        t.name = decodeString(bytes.subarray(s, e));
        return true;
      }
      case 9: {
        expectWire(field, wireType, WIRE_BYTES, "tensor raw_data");
        const [s, e] = r.span();
        t.rawData = bytes.subarray(s, e);
        return true;
      }
      case 14: // data_location: enum
        expectWire(field, wireType, WIRE_VARINT, "tensor data_location");
        t.dataLocation = r.int32();
        return true;
      default:
        return false;
    }
  });
  return t;
}

/** metadata_props and the graph's initializers of an ONNX file, without copying tensor data (see above). */
export function readModelParts(bytes: Uint8Array, file: string): ModelParts {
  try {
    const metadata: MetadataEntry[] = [];
    let graph: [number, number] | undefined;
    readMessage(bytes, 0, bytes.byteLength, (r, field, wireType) => {
      if (field === 7) {
        expectWire(field, wireType, WIRE_BYTES, "graph");
        graph = r.span();
        return true;
      }
      if (field === 14) {
        expectWire(field, wireType, WIRE_BYTES, "metadata_props");
        const [s, e] = r.span();
        metadata.push(readMetadataEntry(bytes, s, e));
        return true;
      }
      return false;
    });
    const initializers: InitializerEntry[] = [];
    if (graph !== undefined) {
      readMessage(bytes, graph[0], graph[1], (r, field, wireType) => {
        if (field !== 5) return false;
        expectWire(field, wireType, WIRE_BYTES, "graph initializer");
        const [s, e] = r.span();
        initializers.push(readInitializer(bytes, s, e));
        return true;
      });
    }
    return { metadata, initializers };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    throw new LowbitError("not a readable ONNX file", { file, found: err.message });
  }
}
