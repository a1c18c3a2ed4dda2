// Scenario 8: disks fail on both sides while mirroring goes on (RAID-4 source: one disk; RAID-DP
// mirror: two; the log file's group: one), CPs and resyncs run degraded, the disks are replaced and
// rebuilt; then latent sector errors on each side are found by checksum and repaired from parity.
// No write is lost and the mirror stays equal to the primary throughout.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget, NodeId } from '../target.ts';
import type { World } from '../world.ts';
import { identify } from '../write_identity.ts';
import {
  clientReadAll,
  cpSyncsDelivered,
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  logFileIds,
  mirrorImage,
  runCp,
  scenarioWorld,
  sourceObs,
  tickUntil,
  writeAll,
} from './scenario_kit.ts';

const SEED = 808;

/** Reads, mirror, committed images: every acknowledged write is there, and the two sides agree. */
function expectIntact(world: World, where: string): void {
  expectMirrorEqualsPrimary(world, 'src0');
  const reads = clientReadAll(world, 'src0');
  expectNoAckedWriteLost(world, 'src0', (lba) => reads[lba]!, `${where}: reads`);
  expect(mirrorImage(world, 'src0'), where).toEqual(reads);
}

/** A DBN of disk `index` of the group that holds a block of a client write (so a read must need it). */
function dbnHoldingWrite(world: World, node: NodeId, group: string, index: number): number {
  const disk = world.media[node]!.groups[group]![index]!;
  const dbn = disk.storedDbns().find((d) => identify(disk.read(d).data).kind === 'write');
  if (dbn === undefined) throw new Error(`no client data on ${node} ${group}[${index}]`);
  return dbn;
}

function diskFaultsOnBothSides(target: ConformanceTarget): void {
  const world = scenarioWorld({ seed: SEED, target, mode: 'sync' });
  writeAll(world, 'src0', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  runCp(world, 'src0');
  expectIntact(world, 'healthy');

  // One disk on each side, and one of the log file's, fail while writes stream and CPs run.
  world.step({ kind: 'fail-disk', node: 'src0', group: 'primary', index: 1 });
  world.step({ kind: 'fail-disk', node: 'dst', group: 'mirror:src0', index: 2 });
  const logged = writeAll(world, 'src0', [2, 3, 20, 21, 22]);
  world.step({ kind: 'fail-disk', node: 'dst', group: 'log:src0', index: 0 });
  const more = writeAll(world, 'src0', [23, 24, 2]);
  tickUntil(world, () => sourceObs(world, 'src0').pendingWrites === 0, 5, 'writes logged');
  expect(world.writes.every((w) => w.outcome?.ok === true)).toBe(true);
  // The degraded log file still reads back every record.
  expect(logFileIds(world, 'src0').map((r) => r.writeId)).toEqual([...logged, ...more]);
  runCp(world, 'src0');
  expect(cpSyncsDelivered(world, 'src0').at(-1)!.updates.length).toBe(7 + 1 + 1);
  expectIntact(world, 'degraded: one disk lost on each side');

  // RAID-DP tolerates a second lost disk on the mirror; a partition and resync go through degraded.
  world.step({ kind: 'fail-disk', node: 'dst', group: 'mirror:src0', index: 7 });
  world.step({ kind: 'partition', source: 'src0' });
  writeAll(world, 'src0', [30, 31, 3]);
  tickUntil(world, () => sourceObs(world, 'src0').relationship === 'out-of-sync', 10, 'out of sync');
  world.step({ kind: 'heal', source: 'src0' });
  const sinceHeal = world.deliveries.length;
  tickUntil(
    world,
    () => sourceObs(world, 'src0').relationship === 'in-sync' && sourceObs(world, 'src0').mirrorCp > 2,
    30,
    'resynced',
  );
  expect(cpSyncsDelivered(world, 'src0', sinceHeal).filter((m) => m.resync)[0]!.updates.length).toBe(
    3 + 1 + 1,
  );
  runCp(world, 'src0');
  expectIntact(world, 'degraded: two mirror disks lost');

  // Replace every failed disk: each group rebuilds onto a blank spare.
  world.step({ kind: 'replace-disk', node: 'src0', group: 'primary', index: 1 });
  world.step({ kind: 'replace-disk', node: 'dst', group: 'mirror:src0', index: 2 });
  world.step({ kind: 'replace-disk', node: 'dst', group: 'mirror:src0', index: 7 });
  world.step({ kind: 'replace-disk', node: 'dst', group: 'log:src0', index: 0 });
  for (const [node, group] of [
    ['src0', 'primary'],
    ['dst', 'mirror:src0'],
    ['dst', 'log:src0'],
  ] as const)
    expect(world.media[node]!.groups[group]!.some((d) => d.isFailed)).toBe(false);
  expect(world.media.src0!.groups.primary![1]!.blocksStored).toBeGreaterThan(0);
  expect(world.media.dst!.groups['mirror:src0']![2]!.blocksStored).toBeGreaterThan(0);
  expectIntact(world, 'rebuilt');
  // The rebuilt disks hold the right blocks: other disks fail now, and reconstruction needs them.
  world.step({ kind: 'fail-disk', node: 'src0', group: 'primary', index: 0 });
  world.step({ kind: 'fail-disk', node: 'dst', group: 'mirror:src0', index: 0 });
  world.step({ kind: 'fail-disk', node: 'dst', group: 'mirror:src0', index: 1 });
  expectIntact(world, 'rebuilt disks carry a reconstruction');
  world.step({ kind: 'replace-disk', node: 'src0', group: 'primary', index: 0 });
  world.step({ kind: 'replace-disk', node: 'dst', group: 'mirror:src0', index: 0 });
  world.step({ kind: 'replace-disk', node: 'dst', group: 'mirror:src0', index: 1 });

  // Latent sector errors on blocks of client data, one on each side: detected and repaired.
  const srcDbn = dbnHoldingWrite(world, 'src0', 'primary', 2);
  const dstDbn = dbnHoldingWrite(world, 'dst', 'mirror:src0', 3);
  world.step({ kind: 'latent-error', node: 'src0', group: 'primary', index: 2, dbn: srcDbn });
  world.step({ kind: 'latent-error', node: 'dst', group: 'mirror:src0', index: 3, dbn: dstDbn });
  const srcDisk = world.media.src0!.groups.primary![2]!;
  const dstDisk = world.media.dst!.groups['mirror:src0']![3]!;
  expect(identify(srcDisk.read(srcDbn).data).kind).toBe('garbage');
  expect(identify(dstDisk.read(dstDbn).data).kind).toBe('garbage');
  // A CP over the damaged stripes, then reads: the right data, and the bad blocks rewritten.
  writeAll(world, 'src0', [40, 41, 42, 43, 0]);
  runCp(world, 'src0');
  expectIntact(world, 'latent errors');
  expect(identify(srcDisk.read(srcDbn).data).kind).toBe('write');
  expect(identify(dstDisk.read(dstDbn).data).kind).toBe('write');
  const mirror = mirrorImage(world, 'src0');
  expect(expectNoAckedWriteLost(world, 'src0', (lba) => mirror[lba]!, 'end')).toBe(16 + 5 + 2 + 4);
}

describe('scenario 8: disk failures on each side during mirroring', () => {
  it('runs degraded, rebuilds, repairs latent errors: no data lost, mirror still equal', () => {
    diskFaultsOnBothSides(referenceTarget());
  });
});
