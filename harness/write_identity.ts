// Client write data that names itself: the first bytes of every block a schedule writes carry the
// write's identity and LBA, so the model can reason about write identities instead of 4 KiB buffers
// and any block read back from any target maps to exactly one write (or to "never written").

const MAGIC = 0x57524954; // 'WRIT'

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
  if (block.every((b) => b === 0)) return { kind: 'zero' };
  if (block.length < 12) return { kind: 'garbage' };
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return { kind: 'garbage' };
  const writeId = view.getUint32(4, true);
  const lba = view.getUint32(8, true);
  // The whole block must be exactly what writeData made: a torn or mixed block is garbage.
  const expected = writeData(writeId, lba, block.length);
  for (let i = 0; i < block.length; i++) if (block[i] !== expected[i]) return { kind: 'garbage' };
  return { kind: 'write', writeId, lba };
}

/** The write identity a block holds at an LBA: 0 for never written, -1 for anything not a whole write. */
export function writeIdOf(block: Uint8Array): number {
  const id = identify(block);
  return id.kind === 'write' ? id.writeId : id.kind === 'zero' ? 0 : -1;
}
