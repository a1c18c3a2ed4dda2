// Client write data that names itself: the first bytes of every block a schedule writes carry the
// write's identity and LBA, so the model can reason about write identities instead of 4 KiB buffers
// and any block read back from any target maps to exactly one write (or to "never written").

import { Buffer } from 'node:buffer';

const MAGIC = 0x57524954; // 'WRIT'

/**
 * The blocks writeData makes, by write id, lba and size: identifying a block read back is then one
 * native byte comparison (Buffer.compare, a memcmp) against the block its header names, exact, with
 * no checksum collision to allow for. Bounded: cleared past the limit (at most 2048 blocks per size,
 * 16 MiB at 8 KiB), far more than one schedule writes, so a world's blocks are made once.
 */
const expectedBlocks = new Map<number, Map<number | string, Uint8Array>>();
const EXPECTED_BLOCKS_MAX = 1 << 11;

/** The block writeData makes for (writeId, lba, bytes), from the cache. */
function expectedBlock(writeId: number, lba: number, bytes: number): Uint8Array {
  let blocks = expectedBlocks.get(bytes);
  if (blocks === undefined) {
    if (expectedBlocks.size >= 8) expectedBlocks.clear();
    blocks = new Map();
    expectedBlocks.set(bytes, blocks);
  }
  // One number while writeId (32 bits) and lba fit in 53 bits, as every block a schedule writes does.
  const key = lba < 0x200000 ? writeId * 0x200000 + lba : `${writeId}:${lba}`;
  let expected = blocks.get(key);
  if (expected === undefined) {
    if (blocks.size >= EXPECTED_BLOCKS_MAX) blocks.clear();
    expected = writeData(writeId, lba, bytes);
    blocks.set(key, expected);
  }
  return expected;
}

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
  // Byte by byte: a DataView per block read back cost more than the rest of this function (profiled).
  if (word(block, 0) !== MAGIC) return isZero(block) ? ZERO : GARBAGE;
  const writeId = word(block, 4);
  const lba = word(block, 8);
  // The whole block must be exactly what writeData made: a torn or mixed block is garbage.
  return Buffer.compare(block, expectedBlock(writeId, lba, block.length)) === 0
    ? { kind: 'write', writeId, lba }
    : GARBAGE;
}

/** The little-endian 32-bit word at byte `at`. */
function word(block: Uint8Array, at: number): number {
  return (block[at]! | (block[at + 1]! << 8) | (block[at + 2]! << 16) | (block[at + 3]! << 24)) >>> 0;
}

const ZERO: BlockIdentity = { kind: 'zero' };
const GARBAGE: BlockIdentity = { kind: 'garbage' };

/** All zeros, compared natively against a zero block of its size (most of an image is never written). */
function isZero(block: Uint8Array): boolean {
  let zeros = zeroBlocks.get(block.length);
  if (zeros === undefined) {
    // A handful of block sizes in a run; a target giving blocks of every length must not grow this.
    if (zeroBlocks.size >= 8) zeroBlocks.clear();
    zeros = new Uint8Array(block.length);
    zeroBlocks.set(block.length, zeros);
  }
  return Buffer.compare(block, zeros) === 0;
}

const zeroBlocks = new Map<number, Uint8Array>();

/** The write identity a block holds at an LBA: 0 for never written, -1 for anything not a whole write. */
export function writeIdOf(block: Uint8Array): number {
  const id = identify(block);
  return id.kind === 'write' ? id.writeId : id.kind === 'zero' ? 0 : -1;
}
