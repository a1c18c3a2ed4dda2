// Tests of the media under the storage stack: the in-memory disk (bounds, failure, latent errors, torn
// writes, clones), the power source that cuts it, and the typed errors they throw.

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

describe('Power', () => {
  it('counts writes and cuts after the k-th from now, torn or whole', () => {
    const power = new Power();
    const landings: string[] = [];
    const write = () => power.write((how) => landings.push(how));
    write();
    expect([power.writes, power.isOn, power.isArmed]).toEqual([1, true, false]);
    power.armCut(2, false);
    expect(power.isArmed).toBe(true);
    write();
    expect(() => write()).toThrow(new PowerLoss(3));
    expect([power.isOn, power.isArmed]).toEqual([false, false]);
    expect(() => write()).toThrow(PowerLoss);
    expect(landings).toEqual(['whole', 'whole', 'whole']);
    power.restore();
    expect([power.writes, power.isOn, power.isArmed]).toEqual([0, true, false]);
    power.armCut(1, true);
    expect(() => write()).toThrow(PowerLoss);
    expect(landings.at(-1)).toBe('torn');
  });

  it('says at which write from now an armed cut falls (what a process target is told as cutAt)', () => {
    const power = new Power();
    expect(power.cutInWrites).toBeNull();
    power.write(() => {});
    power.armCut(3, false);
    expect(power.cutInWrites).toBe(3);
    power.write(() => {});
    expect(power.cutInWrites).toBe(2);
    power.write(() => {});
    expect(power.cutInWrites).toBe(1);
    expect(() => power.write(() => {})).toThrow(PowerLoss);
    expect(power.cutInWrites).toBeNull();
  });

  it('disarms, cuts now, and refuses a cut that is not after some write', () => {
    const power = new Power();
    power.armCut(1, true);
    power.disarm();
    expect(power.isArmed).toBe(false);
    power.write(() => {});
    expect(power.isOn).toBe(true);
    power.armCut(5, false);
    power.cut();
    expect([power.isOn, power.isArmed]).toEqual([false, false]);
    expect(() => power.write(() => {})).toThrow(new PowerLoss(1));
    for (const k of [0, -1, 1.5])
      expect(() => power.armCut(k, false), `${k}`).toThrow(
        new RangeError('armCut: afterWrites must be >= 1'),
      );
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
