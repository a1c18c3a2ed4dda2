// Tests of the block and record checksum: pinned values (every stored block, NVLOG entry, log record
// and wire frame carries one, so the function itself must not drift), and the same sum at any alignment.

import { describe, expect, it } from 'vitest';
import { checksum } from './checksum.ts';

describe('checksum', () => {
  it('gives the pinned values for whole words, tails of 1 to 3 bytes and the empty input', () => {
    const cases: [Uint8Array, number][] = [
      [new Uint8Array(0), 0x5db4a501],
      [Uint8Array.of(1), 0x921c5d37],
      [Uint8Array.of(1, 2, 3), 0xdc410b44],
      [Uint8Array.of(1, 2, 3, 4), 0x53d91f04],
      [Uint8Array.of(1, 2, 3, 4, 5, 6, 7), 0xb7284405],
      [new Uint8Array(64).fill(0xab), 0x66269769],
    ];
    for (const [bytes, sum] of cases)
      expect(checksum(bytes).toString(16), `${bytes.length} bytes`).toBe(sum.toString(16));
  });

  it('is the same for the same bytes at every offset in a buffer, aligned or not', () => {
    const bytes = Uint8Array.from({ length: 23 }, (_, i) => (i * 37 + 11) & 0xff);
    const buffer = new Uint8Array(32);
    for (let offset = 0; offset < 8; offset++) {
      const view = buffer.subarray(offset, offset + bytes.length);
      view.set(bytes);
      expect(checksum(view), `offset ${offset}`).toBe(checksum(bytes));
    }
  });

  it('changes when any one byte changes', () => {
    const bytes = Uint8Array.from({ length: 13 }, (_, i) => i);
    const sum = checksum(bytes);
    for (let i = 0; i < bytes.length; i++) {
      const changed = new Uint8Array(bytes);
      changed[i]! ^= 0x80;
      expect(checksum(changed), `byte ${i}`).not.toBe(sum);
    }
    expect(checksum(bytes.subarray(0, 12))).not.toBe(sum);
  });
});
