// Scenario 7: two sources mirrored into one destination (fan-in). Each source has its own log file and
// its own mirror on the destination; both number their entries from 1, write the same LBAs, and run
// CPs on the same timer, yet no entry, block or CP of one ever lands in the other's.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget } from '../target.ts';
import type { World } from '../world.ts';
import { identify } from '../write_identity.ts';
import {
  cpSyncsDelivered,
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  expectStaysInSync,
  logFileIds,
  mirrorImage,
  scenarioWorld,
  settled,
  sourceObs,
  tickUntil,
} from './scenario_kit.ts';

const SEED = 707;
const SOURCES = ['src0', 'src1'] as const;

/** Every record of `source`'s log file is a write issued to `source`, in seq order, seqs consecutive. */
function expectOwnLog(world: World, source: string, expectedIds: readonly number[]): void {
  const records = logFileIds(world, source);
  expect(records.map((r) => r.writeId)).toEqual(expectedIds);
  for (const r of records) expect(world.writeRecord(r.writeId)!.source).toBe(source);
  records.forEach((r, i) => {
    if (i > 0) expect(r.seq).toBe(records[i - 1]!.seq + 1);
  });
}

/** Every data block of every CP sync from `source` is one of `source`'s writes. */
function expectOwnCpSyncs(world: World, source: string): number {
  let blocks = 0;
  for (const m of cpSyncsDelivered(world, source)) {
    expect(m.source).toBe(source);
    for (const u of m.updates) {
      const id = identify(u.data);
      if (id.kind !== 'write') continue; // a map block or the root
      expect(world.writeRecord(id.writeId)!.source).toBe(source);
      blocks++;
    }
  }
  return blocks;
}

function twoSourcesIntoOneDestination(target: ConformanceTarget): void {
  const world = scenarioWorld({ seed: SEED, target, mode: 'sync', sources: 2 });
  expect(Object.keys(world.media.dst!.groups).sort()).toEqual([
    'log:src0',
    'log:src1',
    'mirror:src0',
    'mirror:src1',
  ]);
  const ids: Record<string, number[]> = { src0: [], src1: [] };
  // Interleaved, the same LBAs on both sources: seqs 1.. on each, write ids alternating.
  for (const lba of [0, 1, 2, 3, 10, 11, 2]) {
    for (const source of SOURCES) {
      world.step({ kind: 'write', source, lba });
      ids[source]!.push(world.writes.at(-1)!.writeId);
    }
  }
  world.step({ kind: 'tick', ticks: 2 });
  expect(world.writes.every((w) => w.outcome?.ok === true)).toBe(true);
  for (const source of SOURCES) {
    expectOwnLog(world, source, ids[source]!);
    expect(logFileIds(world, source).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  }

  tickUntil(
    world,
    () => SOURCES.every((s) => settled(world, s) && sourceObs(world, s).mirrorCp === 1),
    20,
    'CP 1 on both',
  );
  for (const source of SOURCES) {
    expectMirrorEqualsPrimary(world, source);
    expect(world.instance.logFile(source)).toEqual([]);
    // Six distinct LBAs written: six data blocks, the map block and the root in this source's CP sync.
    expect(cpSyncsDelivered(world, source).map((m) => m.updates.length)).toEqual([6 + 1 + 1]);
  }
  // The mirrors hold each its own source's writes: the same LBAs, other write ids.
  const m0 = mirrorImage(world, 'src0');
  const m1 = mirrorImage(world, 'src1');
  expect(m0.filter((id) => id !== 0).length).toBe(6);
  for (let lba = 0; lba < 64; lba++) if (m0[lba] !== 0) expect(m0[lba]).not.toBe(m1[lba]);

  // src1's link breaks; src0 mirrors on undisturbed while src1 runs out of sync.
  world.step({ kind: 'partition', source: 'src1' });
  for (const lba of [5, 6, 0]) {
    for (const source of SOURCES) {
      world.step({ kind: 'write', source, lba });
      ids[source]!.push(world.writes.at(-1)!.writeId);
    }
  }
  tickUntil(world, () => sourceObs(world, 'src1').relationship === 'out-of-sync', 10, 'src1 out of sync');
  expect(sourceObs(world, 'src0').relationship).toBe('in-sync');
  expectOwnLog(world, 'src0', ids.src0!.slice(-3));
  // src1's log file still holds none of src0's entries, and none of its own after the break.
  expectOwnLog(world, 'src1', []);
  tickUntil(world, () => settled(world, 'src0') && sourceObs(world, 'src0').mirrorCp === 2, 20, 'src0 CP 2');
  expect(sourceObs(world, 'src1').mirrorCp).toBe(1);
  expectMirrorEqualsPrimary(world, 'src0');

  world.step({ kind: 'heal', source: 'src1' });
  tickUntil(world, () => SOURCES.every((s) => settled(world, s)), 30, 'both in sync');
  expectStaysInSync(world, 'src1', world.spec.ackTimeoutTicks + 1);
  const resyncs = cpSyncsDelivered(world, 'src1').filter((m) => m.resync);
  // src1's resync: LBAs 5, 6 and 0 changed since CP 1, the map block, the root.
  expect(resyncs.map((m) => m.updates.length)).toEqual([3 + 1 + 1]);
  expect(cpSyncsDelivered(world, 'src0').filter((m) => m.resync)).toEqual([]);
  for (const source of SOURCES) {
    expectMirrorEqualsPrimary(world, source);
    expect(expectOwnCpSyncs(world, source)).toBeGreaterThanOrEqual(9);
    const mirror = mirrorImage(world, source);
    expect(expectNoAckedWriteLost(world, source, (lba) => mirror[lba]!, `${source} mirror`)).toBe(8);
  }
}

describe('scenario 7: two sources into one destination', () => {
  it('keeps separate log files and mirrors, with no crossing of entries', () => {
    twoSourcesIntoOneDestination(referenceTarget());
  });
});
