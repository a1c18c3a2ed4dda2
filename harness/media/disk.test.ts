// Tests of the media under the storage stack: the in-memory disk (bounds, failure, latent errors, torn
// writes, clones, what the harness may inspect) and the typed errors the media throw. The power
// source has its own tests (power.test.ts).

import { describe, expect, it } from 'vitest';
import { checksum } from './checksum.ts';
import { Disk } from './disk.ts';
import { assert, ConfigError, DiskFailed, InvariantViolation, PowerLoss } from './errors.ts';
import { Power } from './power.ts';

const BLOCK_BYTES = 64;

function disk(power = new Power()): Disk {
  return new Disk({ id: 'd', blockCount: 4, blockBytes: BLOCK_BYTES, power });
}

function filled(value: number): Uint8Array {
  return new Uint8Array(BLOCK_BYTES).fill(value);
}

describe('Disk', () => {
  it('refuses impossible shapes', () => {
    for (const blockBytes of [56, 60, 100])
      expect(() => new Disk({ id: 'd', blockCount: 1, blockBytes }), `${blockBytes}`).toThrow(
        new ConfigError(`block size ${blockBytes} must be a multiple of 8, at least 64`),
      );
    for (const blockCount of [0, -1, 1.5])
      expect(() => new Disk({ id: 'x', blockCount, blockBytes: 64 }), `${blockCount}`).toThrow(
        new ConfigError('disk x: blockCount must be a positive integer'),
      );
    expect(new Disk({ id: 'd', blockCount: 1 }).blockBytes).toBe(4096);
    expect(new Disk({ id: 'd', blockCount: 1, blockBytes: 64 }).blockCount).toBe(1);
  });

  it('reads zeros with a valid checksum where nothing was written, and copies of what was', () => {
    const d = disk();
    expect(d.read(3)).toEqual({ data: filled(0), sum: checksum(filled(0)) });
    const data = filled(5);
    d.write(1, data, 1234);
    data.fill(6);
    expect(d.read(1)).toEqual({ data: filled(5), sum: 1234 });
    expect([d.reads, d.writes, d.blocksStored]).toEqual([2, 1, 1]);
    expect(d.storedDbns()).toEqual([1]);
    d.write(0, filled(1), 1);
    expect(d.storedDbns()).toEqual([0, 1]);
  });

  it('refuses a block number outside the disk and a block of the wrong size', () => {
    const d = disk();
    for (const dbn of [-1, 4, 1.5]) {
      expect(() => d.read(dbn), `${dbn}`).toThrow(new RangeError(`disk d: no block ${dbn}`));
      expect(() => d.write(dbn, filled(1), 0), `${dbn}`).toThrow(new RangeError(`disk d: no block ${dbn}`));
    }
    for (const dbn of [-1, 4])
      expect(() => d.plantLatentError(dbn), `${dbn}`).toThrow(new RangeError(`disk d: no block ${dbn}`));
    expect(() => d.write(0, new Uint8Array(32), 0)).toThrow(
      new RangeError('disk d: block of 32 bytes, expected 64'),
    );
    expect(d.writes).toBe(0);
  });

  it('after fail(), every access throws DiskFailed naming the disk', () => {
    const d = disk();
    d.write(0, filled(1), 1);
    d.fail();
    expect(d.isFailed).toBe(true);
    expect(() => d.read(0)).toThrow(new DiskFailed('d'));
    expect(() => d.write(0, filled(2), 2)).toThrow(DiskFailed);
    expect(() => d.storedDbns()).toThrow('disk d has failed');
  });

  it('a latent error flips one byte and keeps the old checksum', () => {
    const d = disk();
    d.write(2, filled(0x0f), checksum(filled(0x0f)));
    d.plantLatentError(2, BLOCK_BYTES + 3);
    const expected = filled(0x0f);
    expected[3] = 0xf0;
    expect(d.read(2)).toEqual({ data: expected, sum: checksum(filled(0x0f)) });
    d.plantLatentError(0);
    expect(d.read(0).data[0]).toBe(0xff);
    expect(d.read(0).sum).toBe(checksum(filled(0)));
  });

  it('a torn write lands its first half only, and the power stays off', () => {
    const power = new Power();
    const d = disk(power);
    d.write(0, filled(1), 1);
    power.armCut(1, true);
    expect(() => d.write(0, filled(2), 2)).toThrow(PowerLoss);
    const expected = filled(1);
    expected.fill(2, 0, BLOCK_BYTES / 2);
    expect(d.read(0)).toEqual({ data: expected, sum: 2 });
    expect(() => d.write(1, filled(3), 3)).toThrow(new PowerLoss(2));
    expect(d.storedDbns()).toEqual([0]);
  });

  it('clones contents and failure state onto another power source', () => {
    const d = disk();
    d.write(1, filled(7), 7);
    const power = new Power();
    const copy = d.clone(power);
    expect(copy.power).toBe(power);
    expect([copy.id, copy.blockCount, copy.blockBytes]).toEqual(['d', 4, BLOCK_BYTES]);
    expect(copy.read(1)).toEqual({ data: filled(7), sum: 7 });
    copy.write(1, filled(8), 8);
    expect(d.read(1).sum).toBe(7);
    d.fail();
    expect(d.clone().isFailed).toBe(true);
    expect(d.clone().power).toBe(d.power);
  });
});

describe('what the harness inspects', () => {
  it('verifies a block against its stored checksum, and holds only what was stored', () => {
    const d = disk();
    expect([d.verifies(1), d.holds(1)]).toEqual([true, false]);
    d.write(1, filled(3), checksum(filled(3)));
    d.write(2, filled(3), 99);
    expect([d.verifies(1), d.holds(1), d.verifies(2), d.holds(2)]).toEqual([true, true, false, true]);
    d.plantLatentError(1, 5);
    d.plantLatentError(3);
    expect([d.verifies(1), d.verifies(3), d.holds(3), d.holds(0)]).toEqual([false, false, true, false]);
    // An inspection is not a read: nothing counted, and a failed disk's blocks are still there.
    d.fail();
    expect([d.verifies(1), d.verifies(0), d.holds(2)]).toEqual([false, true, true]);
    expect([d.reads, d.writes]).toEqual([0, 2]);
  });

  it('lists the stored DBNs in numeric order, whatever the order they were written in', () => {
    const d = new Disk({ id: 'd', blockCount: 40, blockBytes: BLOCK_BYTES });
    for (const dbn of [30, 2, 11, 0, 9, 21, 3]) d.write(dbn, filled(dbn), dbn);
    d.plantLatentError(17);
    expect(d.storedDbns()).toEqual([0, 2, 3, 9, 11, 17, 21, 30]);
    expect(d.blocksStored).toBe(8);
  });

  it('a torn write over a never-written block keeps factory zeros in its second half, and counts', () => {
    const power = new Power();
    const d = disk(power);
    power.armCut(1, true);
    expect(() => d.write(3, filled(9), 9)).toThrow(new PowerLoss(1));
    const expected = filled(0);
    expected.fill(9, 0, BLOCK_BYTES / 2);
    expect(d.read(3)).toEqual({ data: expected, sum: 9 });
    expect(d.writes).toBe(1);
    // A whole cut: the write lands entire before the power goes.
    power.restore();
    power.armCut(1, false);
    expect(() => d.write(2, filled(4), 4)).toThrow(PowerLoss);
    expect(d.read(2)).toEqual({ data: filled(4), sum: 4 });
    // With the power off a write lands nothing and is not counted.
    expect(() => d.write(1, filled(5), 5)).toThrow(PowerLoss);
    expect([d.writes, d.holds(1)]).toEqual([2, false]);
  });
});

describe('changes behind the server', () => {
  it("counts a failure and each latent error, not the server's own writes", () => {
    const disk = new Disk({ id: 'd', blockCount: 4, blockBytes: 64 });
    const data = new Uint8Array(64).fill(7);
    disk.write(1, data, checksum(data));
    expect(disk.changesBehindServer).toBe(0);
    disk.plantLatentError(1);
    disk.plantLatentError(2);
    expect(disk.changesBehindServer).toBe(2);
    disk.fail();
    expect(disk.changesBehindServer).toBe(3);
  });
});

describe('errors', () => {
  it('are typed, named, and carry their message', () => {
    const cases: [Error, string, string][] = [
      [new PowerLoss(3), 'PowerLoss', 'power lost after media write 3'],
      [new ConfigError('c'), 'ConfigError', 'c'],
      [new InvariantViolation('i holds'), 'InvariantViolation', 'invariant violated: i holds'],
      [new DiskFailed('d7'), 'DiskFailed', 'disk d7 has failed'],
    ];
    for (const [error, name, message] of cases) {
      expect(error).toBeInstanceOf(Error);
      expect([error.name, error.message]).toEqual([name, message]);
    }
    expect(new PowerLoss(3).afterWrites).toBe(3);
    expect(new InvariantViolation('x').invariant).toBe('x');
    expect(new DiskFailed('d7').diskId).toBe('d7');
  });

  it('assert throws an InvariantViolation naming the invariant, and only when the condition is false', () => {
    expect(() => assert(false, 'it holds')).toThrow(new InvariantViolation('it holds'));
    expect(() => assert(0, 'zero')).toThrow(InvariantViolation);
    expect(() => assert(1, 'one')).not.toThrow();
    expect(() => assert({}, 'object')).not.toThrow();
  });
});
