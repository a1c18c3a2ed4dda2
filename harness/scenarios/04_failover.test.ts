// Scenario 4: the source is lost for good after acknowledged writes past its last CP. The operator
// promotes the destination: it replays the log file over its last committed mirror, and the promoted
// volume holds every acknowledged write, serves reads (the world routes them to it) and new writes.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget, Mode } from '../target.ts';
import {
  clientReadAll,
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

function failoverAfterSourceLoss(target: ConformanceTarget, mode: Mode, seed: number): void {
  const world = scenarioWorld({ seed, target, mode });
  const committed = writeAll(world, 'src0', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  runCp(world, 'src0');
  expectMirrorEqualsPrimary(world, 'src0');
  const mirrorAtCp = mirrorImage(world, 'src0');

  // Past the last CP: overwrites and new LBAs, acknowledged (so in the log file), not in any CP.
  const pastCp = writeAll(world, 'src0', [2, 3, 10, 11, 12, 3]);
  tickUntil(world, () => sourceObs(world, 'src0').pendingWrites === 0, 5, 'past-CP writes acknowledged');
  for (const id of [...committed, ...pastCp]) expect(world.writeRecord(id)!.outcome?.ok).toBe(true);
  expect(sourceObs(world, 'src0').mirrorCp).toBe(1);
  expect(logFileIds(world, 'src0').map((r) => r.writeId)).toEqual(pastCp);
  expect(mirrorImage(world, 'src0')).toEqual(mirrorAtCp);

  // The source dies for good (its NVRAM and disks with it, as far as anyone can tell).
  world.step({ kind: 'crash', node: 'src0' });
  world.step({ kind: 'failover', source: 'src0' });
  expect(sourceObs(world, 'src0').relationship).toBe('failed-over');
  // Reads go to the promoted volume: every acknowledged write is there, exactly the latest one.
  const reads = clientReadAll(world, 'src0');
  expect(world.reads.length).toBe(64);
  expect(expectNoAckedWriteLost(world, 'src0', (lba) => reads[lba]!, 'promoted volume')).toBe(13);
  const expected = new Array<number>(64).fill(0);
  for (const id of [...committed, ...pastCp]) expected[world.writeRecord(id)!.lba] = id;
  expect(reads).toEqual(expected);
  // The replay was committed as a CP of the promoted volume before it was marked promoted.
  expect(mirrorImage(world, 'src0')).toEqual(expected);

  // The promoted volume takes new writes, acknowledged at once (logged first), and commits them.
  const fresh = writeAll(world, 'src0', [3, 20, 63]);
  for (const id of fresh) expect(world.writeRecord(id)!.outcome?.ok).toBe(true);
  expect(logFileIds(world, 'src0').map((r) => r.writeId)).toEqual(fresh);
  for (const id of fresh) expected[world.writeRecord(id)!.lba] = id;
  expect(clientReadAll(world, 'src0')).toEqual(expected);
  world.step({ kind: 'tick', ticks: world.spec.cpIntervalTicks + 1 });
  expect(mirrorImage(world, 'src0')).toEqual(expected);
  expect(world.instance.logFile('src0')).toEqual([]);

  // A destination restart remembers the promotion and replays the promoted volume's own log.
  const unCommitted = writeAll(world, 'src0', [21, 3]);
  for (const id of unCommitted) expected[world.writeRecord(id)!.lba] = id;
  world.step({ kind: 'crash', node: 'dst' });
  world.step({ kind: 'restart', node: 'dst' });
  expect(sourceObs(world, 'src0').relationship).toBe('failed-over');
  expect(clientReadAll(world, 'src0')).toEqual(expected);

  // The old source, back by mistake, is fenced: it fails its clients instead of forking the volume.
  world.step({ kind: 'restart', node: 'src0' });
  world.step({ kind: 'tick', ticks: 3 });
  expect(sourceObs(world, 'src0').relationship).toBe('failed-over');
  expect(clientReadAll(world, 'src0')).toEqual(expected);
}

describe('scenario 4: failover after the source is lost for good', () => {
  it('sync: the promoted volume holds every acknowledged write, then serves new ones', () => {
    failoverAfterSourceLoss(referenceTarget(), 'sync', 404);
  });

  it('strict-sync: the same', () => {
    failoverAfterSourceLoss(referenceTarget(), 'strict-sync', 405);
  });

  it('catches the canary that promotes without replaying the log file', () => {
    const canary = referenceTarget(
      'no-replay',
      'failover skips the log',
      { failoverWithoutReplay: true },
      'fail',
    );
    expect(() => failoverAfterSourceLoss(canary, 'sync', 404)).toThrow(/lost acknowledged write/);
  });
});
