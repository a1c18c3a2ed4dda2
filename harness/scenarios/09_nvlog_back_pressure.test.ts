// Scenario 9: NVLOG back-pressure. A burst of client writes larger than both NVLOG halves (16 entries
// each in the small preset): the full active half starts a CP and the other half takes the writes;
// when it fills too while that CP is still unconfirmed, writes stall. They are delayed, never dropped:
// every one is acknowledged, in order, and reads back.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget, Mode } from '../target.ts';
import {
  clientReadAll,
  cpSyncsDelivered,
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  mirrorImage,
  runCp,
  scenarioWorld,
  sourceObs,
  tickUntil,
  writeAll,
} from './scenario_kit.ts';

const HALF_ENTRIES = 16;

function burstLargerThanBothHalves(target: ConformanceTarget, mode: Mode, seed: number): void {
  const world = scenarioWorld({ seed, target, mode, nvlogHalfEntries: HALF_ENTRIES });
  // 48 writes at one instant: LBAs 0..39, then 0..7 again.
  const lbas = [...Array.from({ length: 40 }, (_, i) => i), ...Array.from({ length: 8 }, (_, i) => i)];
  const ids = writeAll(world, 'src0', lbas);
  expect(ids.length).toBeGreaterThan(2 * HALF_ENTRIES);
  // The first half filled and started CP 1 (before its timer); the second filled while CP 1 waits
  // for its confirm: the last 16 writes stall, not even logged.
  const o = sourceObs(world, 'src0');
  expect(o.primaryCp).toBe(1);
  expect(o.cpInProgress).toBe(true);
  const answeredAtOnce = mode === 'semi-sync' ? world.spec.semiSyncMaxLagEntries : 0;
  expect(o.pendingWrites).toBe(ids.length - answeredAtOnce);
  for (const id of ids.slice(2 * HALF_ENTRIES)) expect(world.writeRecord(id)!.outcome).toBeUndefined();

  let stalledTicks = 0;
  tickUntil(
    world,
    () => sourceObs(world, 'src0').pendingWrites === 0,
    world.spec.cpIntervalTicks,
    'every write of the burst answered',
    () => {
      if (sourceObs(world, 'src0').pendingWrites > 0) stalledTicks++;
    },
  );
  expect(stalledTicks).toBeGreaterThan(0);
  // Every write acknowledged, none failed, and in the order they were issued.
  for (const id of ids) expect(world.writeRecord(id)!.outcome?.ok).toBe(true);
  const ackTicks = ids.map((id) => world.writeRecord(id)!.outcome!.tick);
  expect(ackTicks).toEqual([...ackTicks].sort((a, b) => a - b));
  // Two CPs started by full halves before the timer, each 16 LBAs + the map block + the root.
  const syncs = cpSyncsDelivered(world, 'src0');
  expect(syncs.map((m) => [m.cpNumber, m.coveredSeq, m.updates.length])).toEqual([
    [1, 16, 16 + 1 + 1],
    [2, 32, 16 + 1 + 1],
  ]);
  expect(world.now).toBeLessThan(world.spec.cpIntervalTicks);

  runCp(world, 'src0');
  // The stalled writes: LBAs 32..39 and 0..7 again, sixteen distinct.
  expect(cpSyncsDelivered(world, 'src0')[2]!.updates.length).toBe(16 + 1 + 1);
  expectMirrorEqualsPrimary(world, 'src0');
  const reads = clientReadAll(world, 'src0');
  const expected = new Array<number>(64).fill(0);
  ids.forEach((id, i) => {
    expected[lbas[i]!] = id;
  });
  expect(reads).toEqual(expected);
  expect(mirrorImage(world, 'src0')).toEqual(expected);
  expect(expectNoAckedWriteLost(world, 'src0', (lba) => reads[lba]!, 'after the burst')).toBe(40);
}

describe('scenario 9: NVLOG back-pressure', () => {
  it('sync: a burst larger than both halves stalls writes and loses none', () => {
    burstLargerThanBothHalves(referenceTarget(), 'sync', 909);
  });

  it('semi-sync: the same', () => {
    burstLargerThanBothHalves(referenceTarget(), 'semi-sync', 910);
  });
});
