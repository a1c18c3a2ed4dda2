// Tests of the RAID geometry of the world spec: which shapes describe real hardware (each refusal a
// ConfigError naming the field, at the exact boundary), the disks and tolerance of each level, and
// the prime a RAID-DP group's stripe is built on.

import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import {
  checkGeometry,
  disksFor,
  primeAbove,
  type RaidGeometry,
  type RaidLevel,
  toleranceOfLevel,
} from './geometry.ts';

function geometry(change: Partial<RaidGeometry> = {}): RaidGeometry {
  return { level: 'raid4', dataDisks: 3, depthBlocks: 2, blocksPerDisk: 2, blockBytes: 64, ...change };
}

function refusal(g: RaidGeometry, why: string): ConfigError {
  return new ConfigError(`RAID geometry ${JSON.stringify(g)}: ${why}`);
}

describe('checkGeometry', () => {
  it('accepts every shape at the edge of what hardware can be', () => {
    const good: RaidGeometry[] = [
      geometry(),
      geometry({ dataDisks: 1, depthBlocks: 1, blocksPerDisk: 1 }),
      geometry({ dataDisks: 256, blockBytes: 72 }),
      // RAID-DP over 4 data disks: p = 5, a stripe is 4 rows of depth 2.
      geometry({ level: 'raid_dp', dataDisks: 4, depthBlocks: 2, blocksPerDisk: 8 }),
      // One data disk: p = 2, a stripe of one row.
      geometry({ level: 'raid_dp', dataDisks: 1, depthBlocks: 1, blocksPerDisk: 1 }),
    ];
    for (const g of good) expect(() => checkGeometry(g), JSON.stringify(g)).not.toThrow();
  });

  it('refuses each impossible field with a ConfigError that names it', () => {
    const dataDisks = 'dataDisks must be an integer from 1 to 256';
    const depth = 'depthBlocks must be a positive integer';
    const blockBytes = 'blockBytes must be a multiple of 8, at least 64';
    const cases: [Partial<RaidGeometry>, string][] = [
      [{ level: 'raid5' as RaidLevel }, 'level must be one of raid4, raid_dp'],
      [{ dataDisks: 0 }, dataDisks],
      [{ dataDisks: 257 }, dataDisks],
      [{ dataDisks: 2.5 }, dataDisks],
      [{ depthBlocks: 0 }, depth],
      [{ depthBlocks: 1.5 }, depth],
      [{ blockBytes: 56 }, blockBytes],
      [{ blockBytes: 60 }, blockBytes],
      [{ blockBytes: 100 }, blockBytes],
      [{ blockBytes: 64.5 }, blockBytes],
      [
        { depthBlocks: 3, blocksPerDisk: 2 },
        'blocksPerDisk must be an integer of at least one stripe (1 rows x depth 3)',
      ],
      [{ blocksPerDisk: 2.5 }, 'blocksPerDisk must be an integer of at least one stripe (1 rows x depth 2)'],
      [
        { level: 'raid_dp', dataDisks: 4, blocksPerDisk: 7 },
        'blocksPerDisk must be an integer of at least one stripe (4 rows x depth 2)',
      ],
      [
        { level: 'raid_dp', dataDisks: 6, depthBlocks: 1, blocksPerDisk: 5 },
        'blocksPerDisk must be an integer of at least one stripe (6 rows x depth 1)',
      ],
    ];
    for (const [change, why] of cases) {
      const g = geometry(change);
      expect(() => checkGeometry(g), why).toThrow(refusal(g, why));
    }
  });
});

describe('disks and tolerance of a level', () => {
  it('a RAID-4 group has one parity disk and loses one disk, RAID-DP two and two', () => {
    expect(disksFor(geometry({ dataDisks: 3 }))).toBe(4);
    expect(disksFor(geometry({ level: 'raid_dp', dataDisks: 3, blocksPerDisk: 8 }))).toBe(5);
    expect(toleranceOfLevel('raid4')).toBe(1);
    expect(toleranceOfLevel('raid_dp')).toBe(2);
  });

  it('counts no disks for a geometry that cannot exist', () => {
    const g = geometry({ depthBlocks: 0 });
    expect(() => disksFor(g)).toThrow(refusal(g, 'depthBlocks must be a positive integer'));
  });
});

describe('primeAbove', () => {
  it('is the smallest prime strictly greater than n, and 2 below it', () => {
    const primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53];
    for (let n = -3; n < 53; n++) expect(primeAbove(n), `n = ${n}`).toBe(primes.find((p) => p > n));
    // Squares of primes are not primes: the trial division must reach the square root itself.
    expect(primeAbove(120)).toBe(127);
    expect(primeAbove(168)).toBe(173);
    expect(primeAbove(256)).toBe(257);
  });
});
