// Scenario 2: a partition in the middle of a stream of sync writes. The source goes out of sync and
// keeps acknowledging writes after its NVLOG alone; when the link heals it resynchronises incrementally:
// one transfer of exactly the blocks changed since the last common CP, then in sync and equal again.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget } from '../target.ts';
import {
  clientReadAll,
  cpSyncsDelivered,
  delivered,
  distinctLbasWritten,
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  expectStaysInSync,
  mirrorImage,
  runCp,
  scenarioWorld,
  settled,
  sourceObs,
  tickUntil,
  writeAll,
} from './scenario_kit.ts';

const SEED = 202;

function partitionInSyncMode(target: ConformanceTarget): void {
  const world = scenarioWorld({ seed: SEED, target, mode: 'sync' });
  // The last common CP: CP 1, with LBAs 0..7.
  writeAll(world, 'src0', [0, 1, 2, 3, 4, 5, 6, 7]);
  runCp(world, 'src0');
  expectMirrorEqualsPrimary(world, 'src0');
  const common = sourceObs(world, 'src0').mirrorCp;
  expect(common).toBe(1);
  const commonImage = mirrorImage(world, 'src0');
  const lastCommonId = world.writes.length;

  // Mid-stream: the link breaks while these writes' log entries are on the wire.
  const inFlight = writeAll(world, 'src0', [4, 5, 8, 9, 10, 11]);
  world.step({ kind: 'partition', source: 'src0' });
  expect(sourceObs(world, 'src0').pendingWrites).toBe(inFlight.length);
  tickUntil(world, () => sourceObs(world, 'src0').relationship === 'out-of-sync', 10, 'out of sync');
  // Sync mode: the waiting writes are acknowledged once the link is declared lost (NVLOG alone).
  for (const id of inFlight) expect(world.writeRecord(id)!.outcome?.ok).toBe(true);

  // Out of sync, writes are acknowledged at once, and local CPs run on the timer.
  const outOfSync = writeAll(world, 'src0', [10, 12, 13, 14, 20, 21]);
  for (const id of outOfSync) expect(world.writeRecord(id)!.outcome).toMatchObject({ ok: true });
  world.step({ kind: 'tick', ticks: 2 * world.spec.cpIntervalTicks });
  const o = sourceObs(world, 'src0');
  expect(o.relationship).toBe('out-of-sync');
  expect(o.primaryCp).toBeGreaterThan(common + 1);
  expect(o.mirrorCp).toBe(common);
  expect(mirrorImage(world, 'src0')).toEqual(commonImage);
  // Writes still in memory when the link comes back go into the resync too.
  writeAll(world, 'src0', [21, 30, 31, 0]);

  const sinceHeal = world.deliveries.length;
  world.step({ kind: 'heal', source: 'src0' });
  tickUntil(world, () => settled(world, 'src0'), 30, 'in sync again after the heal');
  // And it stays so: the transfer's confirm answered everything the source was waiting for.
  expectStaysInSync(world, 'src0', 3 * world.spec.ackTimeoutTicks);
  // One resync transfer, the first CP sync after the heal; any later one is a regular CP.
  const transfers = cpSyncsDelivered(world, 'src0', sinceHeal);
  expect(transfers.map((m) => m.resync)).toEqual([true, ...transfers.slice(1).map(() => false)]);
  const resync = transfers[0]!;
  // The destination told the source where its mirror stands: the last common CP.
  const replies = delivered(world, 'dst').filter((m) => m.kind === 'hello-reply');
  expect(replies.at(-1)).toMatchObject({ lastCommittedCp: common });
  // Exactly the blocks changed since CP 1: one per distinct LBA written since, the map block, the root.
  const changedLbas = distinctLbasWritten(world, 'src0', lastCommonId);
  expect(changedLbas).toBe(14);
  expect(resync.updates.length).toBe(changedLbas + 1 + 1);
  expect(resync.updates.at(-1)!.vbn).toBeLessThan(2);
  expectMirrorEqualsPrimary(world, 'src0');
  const resynced = mirrorImage(world, 'src0');
  expectNoAckedWriteLost(world, 'src0', (lba) => resynced[lba]!, 'mirror after resync');
  expect(world.writes.every((w) => w.outcome?.ok === true)).toBe(true);

  // In sync again: a write waits for the destination's log-ack, and the next CP mirrors it.
  const [after] = writeAll(world, 'src0', [40]);
  expect(world.writeRecord(after!)!.outcome).toBeUndefined();
  runCp(world, 'src0');
  expect(world.writeRecord(after!)!.outcome?.ok).toBe(true);
  expectMirrorEqualsPrimary(world, 'src0');
  const reads = clientReadAll(world, 'src0');
  expect(expectNoAckedWriteLost(world, 'src0', (lba) => reads[lba]!, 'client reads')).toBe(20);
  expect(mirrorImage(world, 'src0')).toEqual(reads);
}

describe('scenario 2: a partition mid-stream in sync mode', () => {
  it('keeps acknowledging, then resyncs only the blocks changed since the last common CP', () => {
    partitionInSyncMode(referenceTarget());
  });
});
