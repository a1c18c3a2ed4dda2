// Scenario 1: client writes, then a CP. The mirror equals the primary block for block (by VBN) and by
// LBA, although the source is RAID-4 4+1 and the mirror RAID-DP with six data disks: the CP sync ships
// VBN updates, and the destination lays them out and protects them with its own RAID layer.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import { disksFor } from '../media/geometry.ts';
import {
  cpSyncsDelivered,
  expectMirrorEqualsPrimary,
  logFileIds,
  mirrorImage,
  placesOnDisks,
  primaryImage,
  runCp,
  scenarioWorld,
  sourceObs,
  writeAll,
} from './scenario_kit.ts';

const SEED = 101;

describe('scenario 1: writes then a CP', () => {
  it('mirrors the CP block for block onto a destination of another geometry', () => {
    const world = scenarioWorld({ seed: SEED, target: referenceTarget(), mode: 'sync' });
    const spec = world.spec.sources[0]!;
    // The geometries really differ: level, width, disks per group, and where a VBN lands.
    expect([spec.primary.level, spec.primary.dataDisks]).toEqual(['raid4', 4]);
    expect([spec.mirror.level, spec.mirror.dataDisks]).toEqual(['raid_dp', 6]);
    expect(world.media.src0!.groups.primary!.length).toBe(disksFor(spec.primary));
    expect(world.media.src0!.groups.primary!.length).toBe(5);
    expect(world.media.dst!.groups['mirror:src0']!.length).toBe(8);

    // Ten distinct LBAs, one of them written twice: the CP dirties ten data blocks.
    const lbas = [0, 3, 7, 12, 20, 33, 41, 50, 58, 63];
    const ids = writeAll(world, 'src0', [...lbas, 7]);
    expect(sourceObs(world, 'src0').pendingWrites).toBe(11);
    world.step({ kind: 'tick', ticks: 2 });
    expect(world.writes.every((w) => w.outcome?.ok === true)).toBe(true);
    // Before the CP: nothing on the disks of either side, every write in the log file, in order.
    expect(primaryImage(world, 'src0').every((id) => id === 0)).toBe(true);
    expect(mirrorImage(world, 'src0').every((id) => id === 0)).toBe(true);
    expect(logFileIds(world, 'src0')).toEqual(
      ids.map((writeId, i) => ({ seq: i + 1, writeId, lba: [...lbas, 7][i]! })),
    );

    runCp(world, 'src0');
    const syncs = cpSyncsDelivered(world, 'src0');
    expect(syncs.length).toBe(1);
    const cp = syncs[0]!;
    expect([cp.cpNumber, cp.coveredSeq, cp.resync]).toEqual([1, 11, false]);
    // The CP's VBN updates: the ten dirtied blocks, the one map block (64 LBAs), the root last.
    expect(cp.updates.length).toBe(10 + 1 + 1);
    expect(cp.updates.at(-1)!.vbn).toBe(1);
    // From an empty image every block of the new image is new: the updates are exactly its live VBNs.
    expect(cp.updates.map((u) => u.vbn).sort((a, b) => a - b)).toEqual(
      world.instance.liveVbns('src0', 'primary'),
    );
    expectMirrorEqualsPrimary(world, 'src0');
    const expected = new Array<number>(64).fill(0);
    lbas.forEach((lba, i) => {
      expected[lba] = ids[i]!;
    });
    expected[7] = ids[10]!;
    expect(primaryImage(world, 'src0')).toEqual(expected);
    expect(mirrorImage(world, 'src0')).toEqual(expected);
    // The CP covered every entry: the log file is truncated.
    expect(world.instance.logFile('src0')).toEqual([]);

    // The same VBN sits on another disk and DBN on each side: the destination placed the blocks itself.
    let placedElsewhere = 0;
    for (const u of cp.updates.slice(0, 10)) {
      const src = placesOnDisks(world, 'src0', 'primary', u.data);
      const dst = placesOnDisks(world, 'dst', 'mirror:src0', u.data);
      expect(src.length).toBe(1);
      expect(dst.length).toBe(1);
      if (src[0] !== dst[0]) placedElsewhere++;
    }
    expect(placedElsewhere).toBeGreaterThanOrEqual(8);

    // A second CP rewrites three LBAs: three data blocks, the map block and the root; nothing else.
    const more = writeAll(world, 'src0', [3, 41, 62]);
    runCp(world, 'src0');
    const second = cpSyncsDelivered(world, 'src0')[1]!;
    expect([second.cpNumber, second.coveredSeq, second.updates.length]).toEqual([2, 14, 3 + 1 + 1]);
    expect(second.updates.at(-1)!.vbn).toBe(0);
    expectMirrorEqualsPrimary(world, 'src0');
    expected[3] = more[0]!;
    expected[41] = more[1]!;
    expected[62] = more[2]!;
    expect(mirrorImage(world, 'src0')).toEqual(expected);

    // The destination kept its own parity: with two mirror disks gone (RAID-DP's tolerance, a data
    // disk and the row parity) the mirror still reads the same blocks by VBN and by LBA.
    world.step({ kind: 'fail-disk', node: 'dst', group: 'mirror:src0', index: 1 });
    world.step({ kind: 'fail-disk', node: 'dst', group: 'mirror:src0', index: 6 });
    expectMirrorEqualsPrimary(world, 'src0');
    expect(mirrorImage(world, 'src0')).toEqual(expected);
  });
});
