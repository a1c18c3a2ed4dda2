// Client write data that names itself: the first bytes of every block a schedule writes carry the
// write's identity and LBA, so the model can reason about write identities instead of 4 KiB buffers
// and any block read back from any target maps to exactly one write (or to "never written").

import { checksum } from './media/checksum.ts';

const MAGIC = 0x57524954; // 'WRIT'

/**
 * Checksums of the blocks writeData makes, by write id, lba and size: identifying a block read back is
 * then one word pass. Any single changed word changes the checksum (each step of harness/media/checksum.ts is a
 * bijection of the word), so a block one word off never passes for a whole write; a torn or mixed block
 * passes only by a 32-bit collision (about 2^-32 per block read). Bounded: cleared past the limit.
 */
const expectedSums = new Map<string, number>();
const EXPECTED_SUMS_MAX = 1 << 16;

/** The block a schedule writes for `writeId` at `lba`: header, then a pattern derived from both. */
export function writeData(writeId: number, lba: number, blockBytes: number): Uint8Array {
  const data = new Uint8Array(blockBytes);
  const view = new DataView(data.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, writeId, true);
  view.setUint32(8, lba, true);
  // The rest is a pattern so that a block misplaced by whole words is still told apart.
  let x = (Math.imul(writeId, 0x9e3779b1) ^ lba) >>> 0;
  for (let o = 12; o + 4 <= blockBytes; o += 4) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 1) >>> 0;
    view.setUint32(o, x, true);
  }
  return data;
}

/** What a block read back holds: a write, the never-written zero block, or something else entirely. */
export type BlockIdentity =
  | { readonly kind: 'write'; readonly writeId: number; readonly lba: number }
  | { readonly kind: 'zero' }
  | { readonly kind: 'garbage' };

export function identify(block: Uint8Array): BlockIdentity {
  if (block.length < 12) return isZero(block) ? ZERO : GARBAGE;
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return isZero(block) ? ZERO : GARBAGE;
  const writeId = view.getUint32(4, true);
  const lba = view.getUint32(8, true);
  // The whole block must be exactly what writeData made: a torn or mixed block is garbage.
  const key = `${writeId}:${lba}:${block.length}`;
  let expected = expectedSums.get(key);
  if (expected === undefined) {
    if (expectedSums.size >= EXPECTED_SUMS_MAX) expectedSums.clear();
    expected = checksum(writeData(writeId, lba, block.length));
    expectedSums.set(key, expected);
  }
  return checksum(block) === expected ? { kind: 'write', writeId, lba } : GARBAGE;
}

const ZERO: BlockIdentity = { kind: 'zero' };
const GARBAGE: BlockIdentity = { kind: 'garbage' };

function isZero(block: Uint8Array): boolean {
  const words = block.length >>> 2;
  if ((block.byteOffset & 3) === 0) {
    const w = new Uint32Array(block.buffer, block.byteOffset, words);
    for (let i = 0; i < words; i++) if (w[i] !== 0) return false;
  } else {
    for (let i = 0; i < words << 2; i++) if (block[i] !== 0) return false;
  }
  for (let i = words << 2; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** The write identity a block holds at an LBA: 0 for never written, -1 for anything not a whole write. */
export function writeIdOf(block: Uint8Array): number {
  const id = identify(block);
  return id.kind === 'write' ? id.writeId : id.kind === 'zero' ? 0 : -1;
}
