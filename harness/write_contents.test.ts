// The world's record of write contents: each pattern makes the data it says, and a block read back
// names the class of writes whose data it is, never a write that carried other bytes.

import { describe, expect, it } from 'vitest';
import { WriteContents } from './write_contents.ts';
import { writeData } from './write_identity.ts';

const BYTES = 256;

describe('write contents', () => {
  it('fresh data names its write; a repeat names the first write of those bytes, at any LBA', () => {
    const c = new WriteContents(BYTES);
    const a = c.make(1, 'src0', 3);
    expect(a).toEqual(writeData(1, 3, BYTES));
    const copy = c.make(2, 'src0', 5, { kind: 'repeat', back: 1 });
    expect(copy).toEqual(a);
    expect(c.classOf(copy)).toBe(1);
    expect(c.sharingOf(2)).toBe('same-contents-other-lba');
    // Write 3 carries A to LBA 3 again after the copy: the same contents at the same LBA.
    c.make(3, 'src0', 3, { kind: 'repeat', back: 2 });
    expect(c.sharingOf(3)).toBe('same-contents-again');
    expect(c.latestAt('src0', 3, 1)).toBe(3);
    expect(c.latestAt('src0', 5, 1)).toBe(2);
    expect(c.holdsAt('src0', 4, 1)).toBe(false);
    expect(c.mayBeSeveral('src0', 3, 1)).toBe(true);
    expect(c.mayBeSeveral('src0', 5, 1)).toBe(false);
  });

  it('zeros are the never-written block; a repeat with nothing to repeat is zeros too', () => {
    const c = new WriteContents(BYTES);
    expect(c.make(1, 'src0', 0, { kind: 'repeat', back: 2 })).toEqual(new Uint8Array(BYTES));
    expect(c.classOfWrite(1)).toBe(0);
    c.make(2, 'src0', 1, { kind: 'zero' });
    expect(c.sharingOf(2)).toBe('zero');
    expect(c.classOf(new Uint8Array(BYTES))).toBe(0);
    expect(c.latestAt('src0', 1, 0)).toBe(2);
    expect(c.latestAt('src0', 7, 0)).toBe(0);
    expect(c.mayBeSeveral('src0', 1, 0)).toBe(true);
    expect(c.mayBeSeveral('src0', 7, 0)).toBe(false);
  });

  it('a block one byte off is a class of its own, and flipping it back is the original again', () => {
    const c = new WriteContents(BYTES);
    const a = c.make(1, 'src0', 0);
    const near = c.make(2, 'src0', 1, { kind: 'near', back: 1, byte: 100 });
    expect([...near].filter((b, i) => b !== a[i])).toHaveLength(1);
    expect(c.classOf(near)).toBe(2);
    expect(c.sharingOf(2)).toBe('near');
    const back = c.make(3, 'src0', 2, { kind: 'near', back: 1, byte: 100 });
    expect(back).toEqual(a);
    expect(c.classOfWrite(3)).toBe(1);
    // Bytes no write carried: another byte changed, or a write's fresh block at another LBA.
    const other = near.slice();
    other[7] = other[7]! ^ 1;
    expect(c.classOf(other)).toBe(-1);
    expect(c.classOf(writeData(1, 5, BYTES))).toBe(-1);
  });

  it("keeps each source's writes apart: back counts the source's own writes", () => {
    const c = new WriteContents(BYTES);
    c.make(1, 'src0', 0);
    c.make(2, 'src1', 0);
    c.make(3, 'src0', 1, { kind: 'repeat', back: 1 });
    expect(c.classOfWrite(3)).toBe(1);
    expect(c.issuedBy('src1', 1)).toBe(false);
    expect(c.issuedBy('src0', 1)).toBe(true);
  });

  it('fresh data of a write this world never issued still names it, for the checks to say so', () => {
    const c = new WriteContents(BYTES);
    expect(c.classOf(writeData(9, 0, BYTES))).toBe(9);
  });
});
