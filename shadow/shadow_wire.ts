// The shadow-paging wire format: one binary frame (magic, length, CRC-32, type, fields) per message.
// Fault model: frames corrupted, truncated, duplicated, reordered or lost; a bad frame decodes to null, never applied.

import type { VbnBlock } from '../impl/raid.ts';
import { crc32, getU32, setU32 } from './shadow_checksum.ts';

const MAGIC = 0x53485731; // 'SHW1'
const HEAD = 13; // magic, length, crc, type
export const NO_BASE = 0xffffffff;

export type Message =
  /** Source -> destination, while out of sync: which CP does your mirror hold? Fences older sessions. */
  | { readonly type: 'hello'; readonly session: number }
  /** The mirror's committed CP and the slot of its root: a transfer must never be written there. */
  | {
      readonly type: 'status';
      readonly session: number;
      readonly mirrorCp: number;
      readonly mirrorSlot: number;
    }
  | {
      readonly type: 'entry';
      readonly session: number;
      readonly seq: number;
      readonly lba: number;
      readonly data: Uint8Array;
    }
  | { readonly type: 'log-ack'; readonly session: number; readonly seq: number }
  /** The VBN updates of CP `cp` on top of the mirror's CP `baseCp` (NO_BASE: on top of nothing), root last. */
  | {
      readonly type: 'cp-sync';
      readonly session: number;
      readonly cp: number;
      readonly baseCp: number;
      readonly rootVbn: number;
      readonly blocks: readonly VbnBlock[];
    }
  | { readonly type: 'confirm'; readonly session: number; readonly cp: number };

const TYPES = ['hello', 'status', 'entry', 'log-ack', 'cp-sync', 'confirm'] as const;

function u32s(...xs: number[]): Uint8Array {
  const b = new Uint8Array(4 * xs.length);
  for (let i = 0; i < xs.length; i++) setU32(b, 4 * i, xs[i]!);
  return b;
}

export function encode(m: Message): Uint8Array {
  const parts: Uint8Array[] = [];
  switch (m.type) {
    case 'hello':
      parts.push(u32s(m.session));
      break;
    case 'status':
      parts.push(u32s(m.session, m.mirrorCp, m.mirrorSlot));
      break;
    case 'entry':
      parts.push(u32s(m.session, m.seq, m.lba, m.data.length), m.data);
      break;
    case 'log-ack':
      parts.push(u32s(m.session, m.seq));
      break;
    case 'cp-sync':
      parts.push(u32s(m.session, m.cp, m.baseCp, m.rootVbn, m.blocks.length));
      for (const b of m.blocks) parts.push(u32s(b.vbn, b.data.length), b.data);
      break;
    case 'confirm':
      parts.push(u32s(m.session, m.cp));
      break;
  }
  const bodyLen = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(HEAD + bodyLen);
  setU32(out, 0, MAGIC);
  setU32(out, 4, out.length);
  out[12] = TYPES.indexOf(m.type);
  let at = HEAD;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  setU32(out, 8, crc32(out.subarray(12)));
  return out;
}

/** The message, or null when the bytes are not a whole, intact frame. */
export function decode(bytes: Uint8Array): Message | null {
  if (bytes.length < HEAD || getU32(bytes, 0) !== MAGIC || getU32(bytes, 4) !== bytes.length) return null;
  if (crc32(bytes.subarray(12)) !== getU32(bytes, 8)) return null;
  const type = TYPES[bytes[12]!];
  let at = HEAD;
  const need = (n: number) => {
    if (at + n > bytes.length) throw new RangeError('short frame');
  };
  const u = () => {
    need(4);
    const v = getU32(bytes, at);
    at += 4;
    return v;
  };
  const raw = (n: number) => {
    need(n);
    const v = bytes.slice(at, at + n);
    at += n;
    return v;
  };
  try {
    let m: Message;
    switch (type) {
      case 'hello':
        m = { type, session: u() };
        break;
      case 'status':
        m = { type, session: u(), mirrorCp: u(), mirrorSlot: u() };
        break;
      case 'entry': {
        const session = u();
        const seq = u();
        const lba = u();
        m = { type, session, seq, lba, data: raw(u()) };
        break;
      }
      case 'log-ack':
        m = { type, session: u(), seq: u() };
        break;
      case 'cp-sync': {
        const session = u();
        const cp = u();
        const baseCp = u();
        const rootVbn = u();
        const n = u();
        const blocks: VbnBlock[] = [];
        for (let i = 0; i < n; i++) {
          const vbn = u();
          blocks.push({ vbn, data: raw(u()) });
        }
        m = { type, session, cp, baseCp, rootVbn, blocks };
        break;
      }
      case 'confirm':
        m = { type, session: u(), cp: u() };
        break;
      default:
        return null;
    }
    return at === bytes.length ? m : null;
  } catch {
    return null;
  }
}
