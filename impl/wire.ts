// The messages a source server and the destination exchange, and their byte encoding on the link.
// Fault model: a frame may arrive truncated or with any bytes corrupted; decodeMessage detects both
// (magic, version, length, checksum, then a strict payload parse) and returns a WireError, never a message.

import { checksum } from '../harness/media/checksum.ts';
import { assert } from '../harness/media/errors.ts';
import type { VbnBlock } from './raid.ts';

// Frame layout, integers little-endian:
//   offset 0   u32  magic 'CPSW'
//   offset 4   u16  version
//   offset 6   u16  kind code
//   offset 8   u32  payload length in bytes (n)
//   offset 12  n    payload
//   offset 12+n u32 checksum of bytes [0, 12+n)
// Payload fields: counters (seq, lba, vbn, cpNumber) are u64 holding safe integers (< 2^53); a
// string is a u16 byte length then UTF-8; a block is a u32 byte length then its bytes, verbatim.

/** 'CPSW' read as a little-endian u32. */
export const WIRE_MAGIC = 0x57535043;
export const WIRE_VERSION = 1;
export const FRAME_HEADER_BYTES = 12;
export const FRAME_TRAILER_BYTES = 4;

/** Source → destination: one client write, forwarded as it is appended to the NVLOG. */
export interface LogEntryMessage {
  readonly kind: 'log-entry';
  readonly source: string;
  /** Per source, from 1, increasing. */
  readonly seq: number;
  readonly lba: number;
  readonly data: Uint8Array;
  /** The entry's checksum as the source's NVLOG computed it; carried verbatim for the log file. */
  readonly entrySum: number;
}

/** Destination → source: entry `seq` is durably in this source's log file. */
export interface LogAckMessage {
  readonly kind: 'log-ack';
  readonly source: string;
  readonly seq: number;
}

/** Source → destination: the VBN updates of one CP (or of an incremental resync), to commit atomically. */
export interface CpSyncMessage {
  readonly kind: 'cp-sync';
  readonly source: string;
  readonly cpNumber: number;
  /** The highest log seq this CP covers: the destination may truncate the log file up to it on commit. */
  readonly coveredSeq: number;
  /** Every block the CP wrote, metadata included, in write order; the root block is the last one. */
  readonly updates: readonly VbnBlock[];
  /** True for an incremental resynchronisation transfer, false for a regular CP. */
  readonly resync: boolean;
  /**
   * The mirror CP the updates were computed against: the previous CP for a regular CP sync, the CP
   * the destination said its mirror holds for a resync. Applied onto any other image, the updates
   * could overwrite blocks that image still uses.
   */
  readonly baseCp: number;
}

/** Destination → source: CP `cpNumber` of this source's mirror is committed. */
export interface CpConfirmMessage {
  readonly kind: 'cp-confirm';
  readonly source: string;
  readonly cpNumber: number;
}

/** Source → destination after a restart or when the link returns: where the source stands. */
export interface HelloMessage {
  readonly kind: 'hello';
  readonly source: string;
  /** The source's last committed CP (its primary's root); 0 before the first CP. */
  readonly lastCommittedCp: number;
  /** Counts this source's hellos since it started: the reply echoes it, with lastCommittedCp. */
  readonly helloSeq: number;
}

/** Destination → source: where the mirror stands, so a resync can start from the last common CP. */
export interface HelloReplyMessage {
  readonly kind: 'hello-reply';
  readonly source: string;
  /** The last CP the destination committed for this source's mirror; 0 before the first. */
  readonly lastCommittedCp: number;
  /** The highest seq in this source's log file; 0 when it is empty. */
  readonly logHighSeq: number;
  /**
   * The hello this answers (its lastCommittedCp and helloSeq): a reply that arrives after a later
   * hello was sent describes a mirror that may have moved on since, and is not acted on.
   */
  readonly helloCp: number;
  readonly helloSeq: number;
}

/** Destination → source: a log entry (by seq) or a CP (by cpNumber) is refused. */
export interface RejectMessage {
  readonly kind: 'reject';
  readonly source: string;
  readonly refused: 'seq' | 'cp';
  /** The refused seq or cpNumber. */
  readonly number: number;
  /**
   * True when the destination will refuse everything from this source from now on (it was promoted
   * by failover): the source must stop mirroring. False when only this message is refused.
   */
  readonly permanent: boolean;
  /** A short human-readable reason, for traces. */
  readonly reason: string;
}

export type Message =
  | LogEntryMessage
  | LogAckMessage
  | CpSyncMessage
  | CpConfirmMessage
  | HelloMessage
  | HelloReplyMessage
  | RejectMessage;

export type MessageKind = Message['kind'];

/** Kind codes on the wire. Never renumber one: a frame's kind is part of the format. */
const KIND_CODES: Readonly<Record<MessageKind, number>> = {
  'log-entry': 1,
  'log-ack': 2,
  'cp-sync': 3,
  'cp-confirm': 4,
  hello: 5,
  'hello-reply': 6,
  reject: 7,
};

export const MESSAGE_KINDS: readonly MessageKind[] = Object.keys(KIND_CODES) as MessageKind[];

const KIND_BY_CODE = new Map<number, MessageKind>(MESSAGE_KINDS.map((k) => [KIND_CODES[k], k]));

export type WireErrorReason =
  | 'truncated'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-length'
  | 'bad-checksum'
  | 'unknown-kind'
  | 'bad-payload';

/**
 * Bytes that are not a well-formed message: the receiver drops them and applies nothing. A value that
 * is returned, not thrown, so it captures no stack: a run full of corrupted frames stays cheap.
 */
export class WireError {
  readonly name = 'WireError';
  readonly message: string;
  constructor(
    readonly reason: WireErrorReason,
    detail: string,
  ) {
    this.message = `wire: ${reason}: ${detail}`;
  }

  toString(): string {
    return this.message;
  }
}

/**
 * The buffer frames are built in, kept between calls (grown as needed): a frame is copied out of it
 * whole, so every byte of it was written by that frame's encoding and nothing of an earlier one shows.
 */
let scratch: Uint8Array = new Uint8Array(4096);

export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer(scratch);
  w.u32(WIRE_MAGIC);
  w.u16(WIRE_VERSION);
  w.u16(KIND_CODES[m.kind]);
  w.u32(0); // Payload length, patched below once it is known.
  writePayload(w, m);
  const payloadBytes = w.length - FRAME_HEADER_BYTES;
  w.patchU32(8, payloadBytes);
  w.u32(checksum(w.view(0, w.length)));
  const frame = w.view(0, w.length).slice();
  scratch = w.bytes;
  assert(frame.length === FRAME_HEADER_BYTES + payloadBytes + FRAME_TRAILER_BYTES, 'wire: frame length');
  return frame;
}

/** The message `bytes` encode, or a WireError saying why they are not one. Never throws on bad input. */
export function decodeMessage(
  bytes: Uint8Array,
  /** CANARY: the checksum is not verified (a corrupted frame may decode as another message). */
  unsafeSkipChecksum = false,
): Message | WireError {
  if (bytes.length < FRAME_HEADER_BYTES + FRAME_TRAILER_BYTES)
    return new WireError('truncated', `${bytes.length} bytes, a frame has at least 16`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== WIRE_MAGIC) return new WireError('bad-magic', hex32(magic));
  const version = view.getUint16(4, true);
  if (version !== WIRE_VERSION) return new WireError('bad-version', `version ${version}, expected 1`);
  const payloadBytes = view.getUint32(8, true);
  const end = FRAME_HEADER_BYTES + payloadBytes;
  const frameBytes = end + FRAME_TRAILER_BYTES;
  if (bytes.length < frameBytes)
    return new WireError('truncated', `${bytes.length} bytes, the header says ${frameBytes}`);
  if (bytes.length > frameBytes)
    return new WireError('bad-length', `${bytes.length} bytes, the header says ${frameBytes}`);
  const stored = view.getUint32(end, true);
  const computed = checksum(bytes.subarray(0, end));
  if (stored !== computed && !unsafeSkipChecksum)
    return new WireError('bad-checksum', `stored ${hex32(stored)}, computed ${hex32(computed)}`);
  const code = view.getUint16(6, true);
  const kind = KIND_BY_CODE.get(code);
  if (kind === undefined) return new WireError('unknown-kind', `kind code ${code} is not a message kind`);
  const r = new Reader(bytes, view, FRAME_HEADER_BYTES, end);
  try {
    const m = readPayload(r, kind);
    if (r.pos !== end) throw new PayloadError(`${end - r.pos} bytes left after the ${kind} payload`);
    return m;
  } catch (e) {
    if (e instanceof PayloadError) return new WireError('bad-payload', `${kind}: ${e.message}`);
    throw e;
  }
}

/** One line for traces, e.g. `cp-sync src0 cp=4 base=3 covered=17 updates=12`; never block contents. */
export function describeMessage(m: Message): string {
  switch (m.kind) {
    case 'log-entry':
      return (
        `log-entry ${m.source} seq=${m.seq} lba=${m.lba} bytes=${m.data.length} ` + `sum=${hex32(m.entrySum)}`
      );
    case 'log-ack':
      return `log-ack ${m.source} seq=${m.seq}`;
    case 'cp-sync':
      return (
        `cp-sync ${m.source} cp=${m.cpNumber} base=${m.baseCp} covered=${m.coveredSeq} updates=${m.updates.length}` +
        (m.resync ? ' resync' : '')
      );
    case 'cp-confirm':
      return `cp-confirm ${m.source} cp=${m.cpNumber}`;
    case 'hello':
      return `hello ${m.source} cp=${m.lastCommittedCp}`;
    case 'hello-reply':
      return `hello-reply ${m.source} cp=${m.lastCommittedCp} logHigh=${m.logHighSeq}`;
    case 'reject':
      // JSON quoting keeps a reason with a newline on one line.
      return (
        `reject ${m.source} ${m.refused}=${m.number}` +
        `${m.permanent ? ' permanent' : ''} ${JSON.stringify(m.reason)}`
      );
  }
}

function writePayload(w: Writer, m: Message): void {
  assert(m.source.length > 0, 'wire: source id is not empty');
  w.str(m.source, 'source');
  switch (m.kind) {
    case 'log-entry':
      assert(m.seq >= 1, 'wire: log seq starts at 1');
      w.u64(m.seq);
      w.u64(m.lba);
      w.u32(m.entrySum);
      w.block(m.data);
      return;
    case 'log-ack':
      assert(m.seq >= 1, 'wire: log seq starts at 1');
      w.u64(m.seq);
      return;
    case 'cp-sync':
      w.u64(m.cpNumber);
      w.u64(m.coveredSeq);
      w.bool(m.resync);
      w.u64(m.baseCp);
      w.u32(m.updates.length);
      for (const u of m.updates) {
        w.u64(u.vbn);
        w.block(u.data);
      }
      return;
    case 'cp-confirm':
      w.u64(m.cpNumber);
      return;
    case 'hello':
      w.u64(m.lastCommittedCp);
      w.u64(m.helloSeq);
      return;
    case 'hello-reply':
      w.u64(m.lastCommittedCp);
      w.u64(m.logHighSeq);
      w.u64(m.helloCp);
      w.u64(m.helloSeq);
      return;
    case 'reject':
      w.u8(m.refused === 'seq' ? 1 : 2);
      w.u64(m.number);
      w.bool(m.permanent);
      w.str(m.reason, 'reason');
      return;
  }
}

function readPayload(r: Reader, kind: MessageKind): Message {
  const source = r.str();
  if (source.length === 0) throw new PayloadError('empty source id');
  switch (kind) {
    case 'log-entry': {
      const seq = r.seq();
      const lba = r.u64();
      const entrySum = r.u32();
      return { kind, source, seq, lba, data: r.block(), entrySum };
    }
    case 'log-ack':
      return { kind, source, seq: r.seq() };
    case 'cp-sync': {
      const cpNumber = r.u64();
      const coveredSeq = r.u64();
      const resync = r.bool();
      const baseCp = r.u64();
      const count = r.u32();
      // Each update takes at least 12 bytes, so a corrupted count cannot make us allocate wildly.
      if (count * 12 > r.remaining)
        throw new PayloadError(`${count} updates cannot fit in ${r.remaining} bytes`);
      const updates: VbnBlock[] = [];
      for (let i = 0; i < count; i++) {
        const vbn = r.u64();
        updates.push({ vbn, data: r.block() });
      }
      return { kind, source, cpNumber, coveredSeq, updates, resync, baseCp };
    }
    case 'cp-confirm':
      return { kind, source, cpNumber: r.u64() };
    case 'hello': {
      const lastCommittedCp = r.u64();
      return { kind, source, lastCommittedCp, helloSeq: r.u64() };
    }
    case 'hello-reply': {
      const lastCommittedCp = r.u64();
      const logHighSeq = r.u64();
      const helloCp = r.u64();
      return { kind, source, lastCommittedCp, logHighSeq, helloCp, helloSeq: r.u64() };
    }
    case 'reject': {
      const code = r.u8();
      if (code !== 1 && code !== 2)
        throw new PayloadError(`refused code ${code} is neither seq (1) nor cp (2)`);
      const number = r.u64();
      const permanent = r.bool();
      return { kind, source, refused: code === 1 ? 'seq' : 'cp', number, permanent, reason: r.str() };
    }
  }
}

/** A malformed payload inside a frame whose checksum matched: only a foreign or buggy encoder makes one. */
class PayloadError extends Error {}

const TWO_POW_32 = 0x1_0000_0000;
/** The high word of a u64 that still holds a safe integer (< 2^53). */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the string, so that every string round-trips.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Writer {
  private buffer: Uint8Array;
  private dataView: DataView;
  length = 0;

  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
    this.dataView = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  /** The buffer written into, grown or not. */
  get bytes(): Uint8Array {
    return this.buffer;
  }

  view(start: number, end: number): Uint8Array {
    return this.buffer.subarray(start, end);
  }

  u8(n: number): void {
    assert(Number.isInteger(n) && n >= 0 && n <= 0xff, 'wire: u8 field in range');
    this.reserve(1);
    this.dataView.setUint8(this.length, n);
    this.length += 1;
  }

  u16(n: number): void {
    assert(Number.isInteger(n) && n >= 0 && n <= 0xffff, 'wire: u16 field in range');
    this.reserve(2);
    this.dataView.setUint16(this.length, n, true);
    this.length += 2;
  }

  u32(n: number): void {
    assert(Number.isInteger(n) && n >= 0 && n < TWO_POW_32, 'wire: u32 field in range');
    this.reserve(4);
    this.dataView.setUint32(this.length, n, true);
    this.length += 4;
  }

  /** A non-negative safe integer as two u32 words, low first: no BigInt on the hot path. */
  u64(n: number): void {
    assert(Number.isSafeInteger(n) && n >= 0, 'wire: counter is a non-negative safe integer');
    this.u32(n % TWO_POW_32);
    this.u32(Math.floor(n / TWO_POW_32));
  }

  bool(b: boolean): void {
    this.u8(b ? 1 : 0);
  }

  str(s: string, field: string): void {
    const bytes = utf8Encoder.encode(s);
    assert(bytes.length <= 0xffff, `wire: ${field} fits in 65535 UTF-8 bytes`);
    this.u16(bytes.length);
    this.raw(bytes);
  }

  block(data: Uint8Array): void {
    this.u32(data.length);
    this.raw(data);
  }

  patchU32(offset: number, n: number): void {
    assert(offset + 4 <= this.length, 'wire: patch inside the frame');
    this.dataView.setUint32(offset, n, true);
  }

  private raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.dataView = new DataView(grown.buffer);
  }
}

/** Reads the payload in [start, end) of a frame; every read is bounds-checked against `end`. */
class Reader {
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly dataView: DataView,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    this.need(1);
    const n = this.dataView.getUint8(this.pos);
    this.pos += 1;
    return n;
  }

  u16(): number {
    this.need(2);
    const n = this.dataView.getUint16(this.pos, true);
    this.pos += 2;
    return n;
  }

  u32(): number {
    this.need(4);
    const n = this.dataView.getUint32(this.pos, true);
    this.pos += 4;
    return n;
  }

  u64(): number {
    const low = this.u32();
    const high = this.u32();
    if (high > MAX_SAFE_HIGH_WORD) throw new PayloadError(`counter at byte ${this.pos - 8} exceeds 2^53`);
    return high * TWO_POW_32 + low;
  }

  seq(): number {
    const seq = this.u64();
    if (seq < 1) throw new PayloadError('seq 0: log sequence numbers start at 1');
    return seq;
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw new PayloadError(`boolean byte ${b} at byte ${this.pos - 1}`);
    return b === 1;
  }

  str(): string {
    const n = this.u16();
    this.need(n);
    const start = this.pos;
    this.pos += n;
    try {
      return utf8Decoder.decode(this.bytes.subarray(start, start + n));
    } catch {
      throw new PayloadError(`invalid UTF-8 in the string at byte ${start}`);
    }
  }

  /** A copy, so that the message never aliases the network's buffer. */
  block(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const start = this.pos;
    this.pos += n;
    return this.bytes.slice(start, start + n);
  }

  private need(n: number): void {
    if (n > this.end - this.pos)
      throw new PayloadError(`a ${n}-byte field at byte ${this.pos} overruns the payload end ${this.end}`);
  }
}

/** `0x` and eight hex digits. */
function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
