import { describe, expect, it } from 'vitest';
import { identify, writeData, writeIdOf } from './write_identity.ts';

describe('identify', () => {
  it('names the write and LBA of every block writeData makes, at any size, id and LBA', () => {
    for (const bytes of [12, 64, 512, 4096])
      for (const [writeId, lba] of [
        [1, 0],
        [7, 3],
        [0xffff_ffff, 0x1f_ffff],
        // Past the numeric cache key: the string key must give the same answer, twice.
        [5, 0x20_0000],
        [5, 0xffff_ffff],
      ] as const) {
        const block = writeData(writeId, lba, bytes);
        expect(identify(block), `${bytes} bytes, write ${writeId}, lba ${lba}`).toEqual({
          kind: 'write',
          writeId,
          lba,
        });
        expect(identify(block)).toEqual({ kind: 'write', writeId, lba });
        expect(writeIdOf(block)).toBe(writeId);
      }
  });

  it('still names every block once its cache of expected blocks has been cleared, and a zero block of any size', () => {
    for (let writeId = 1; writeId <= 5000; writeId++)
      expect(writeIdOf(writeData(writeId, writeId % 7, 64))).toBe(writeId);
    expect(writeIdOf(writeData(1, 1, 64))).toBe(1);
    for (const bytes of [12, 13, 100, 4096])
      expect(identify(new Uint8Array(bytes))).toEqual({ kind: 'zero' });
    const late = new Uint8Array(4096);
    late[4095] = 1;
    expect(identify(late)).toEqual({ kind: 'garbage' });
  });

  it('reads a block at any byte offset of its buffer', () => {
    const buffer = new Uint8Array(512 + 3);
    buffer.set(writeData(9, 4, 512), 3);
    expect(identify(buffer.subarray(3))).toEqual({ kind: 'write', writeId: 9, lba: 4 });
    expect(identify(new Uint8Array(515).subarray(3))).toEqual({ kind: 'zero' });
  });

  it('a block one byte off, torn, of another size or with a forged header is garbage; zeros are zero', () => {
    const block = writeData(3, 2, 512);
    for (const at of [0, 4, 8, 12, 511]) {
      const off = block.slice();
      off[at]! ^= 1;
      expect(identify(off), `byte ${at}`).toEqual({ kind: 'garbage' });
    }
    const torn = block.slice();
    torn.set(writeData(4, 2, 512).subarray(256), 256);
    expect(identify(torn)).toEqual({ kind: 'garbage' });
    // The pattern depends on the byte's place alone, so the first half is that write at half the size:
    // the cached blocks are per size.
    expect(identify(block.subarray(0, 256))).toEqual({ kind: 'write', writeId: 3, lba: 2 });
    expect(identify(torn.subarray(0, 256))).toEqual({ kind: 'write', writeId: 3, lba: 2 });
    const forged = writeData(3, 3, 512);
    forged.set(block.subarray(0, 12));
    expect(identify(forged)).toEqual({ kind: 'garbage' });
    expect(identify(new Uint8Array(512))).toEqual({ kind: 'zero' });
    expect(identify(new Uint8Array(8))).toEqual({ kind: 'zero' });
    expect(identify(Uint8Array.of(0, 0, 1))).toEqual({ kind: 'garbage' });
    expect(writeIdOf(new Uint8Array(512))).toBe(0);
    expect(writeIdOf(torn)).toBe(-1);
  });
});
