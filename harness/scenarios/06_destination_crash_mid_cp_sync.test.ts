// Scenario 6: the destination loses power in the middle of applying a CP sync, after each of its media
// writes in turn (torn or whole), and in the middle of appending log records (a torn log tail). Its
// committed mirror stays exactly an earlier CP image of the primary, by VBN and by LBA; an acknowledged
// log record survives, a torn one is dropped; after the restart the mirror catches up.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget } from '../target.ts';
import type { World } from '../world.ts';
import {
  cpSyncsDelivered,
  delivered,
  differingVbns,
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  expectStaysInSync,
  imageBlocks,
  logFileIds,
  mediaWritesDuring,
  mirrorImage,
  primaryImage,
  runCp,
  scenarioWorld,
  settled,
  sourceObs,
  tickUntil,
  writeAll,
} from './scenario_kit.ts';

const SEED = 606;

interface CpImage {
  readonly lbas: number[];
  readonly blocks: Map<number, Uint8Array>;
}

function primaryCpImage(world: World): CpImage {
  return { lbas: primaryImage(world, 'src0'), blocks: imageBlocks(world, 'src0', 'primary') };
}

/** CP 1 mirrored, ten acknowledged writes, and CP 2's sync on the wire: it arrives on the next tick. */
function cpSyncOnTheWire(target: ConformanceTarget): { world: World; cp1: CpImage; second: number[] } {
  const world = scenarioWorld({ seed: SEED, target, mode: 'sync' });
  writeAll(world, 'src0', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  runCp(world, 'src0');
  const cp1 = primaryCpImage(world);
  const second = writeAll(world, 'src0', [5, 6, 7, 8, 9, 20, 21, 22, 23, 24]);
  tickUntil(world, () => sourceObs(world, 'src0').cpInProgress, 2 * world.spec.cpIntervalTicks, 'CP 2 sent');
  expect(world.writes.every((w) => w.outcome?.ok === true)).toBe(true);
  return { world, cp1, second };
}

function expectMirrorIs(world: World, image: CpImage, at: string): void {
  expect(mirrorImage(world, 'src0'), at).toEqual(image.lbas);
  const mirror = imageBlocks(world, 'src0', 'mirror');
  expect(image.blocks.size, at).toBeGreaterThan(1);
  expect(differingVbns(mirror, image.blocks), `${at}: VBNs differing from the CP image`).toEqual([]);
}

function destinationCrashAtEveryCpSyncWrite(target: ConformanceTarget): number {
  // Dry run. Applying CP 2 on the RAID-DP mirror (p = 7: one 36-VBN stripe of 6 rows): the 11 blocks
  // at VBNs 17..27, then their parity (3 rows, all 6 stored diagonals), then the root (VBN 0) and its
  // row and diagonal parity; then the log file's truncation: one superblock copy and its parity.
  const dry = cpSyncOnTheWire(target);
  const syncWrites = mediaWritesDuring(dry.world, 'dst', () => runCp(dry.world, 'src0'));
  expect(syncWrites).toBe(11 + 3 + 6 + 3 + 2);
  const rootWrite = 11 + 3 + 6 + 1;
  const cp2 = primaryCpImage(dry.world);
  const images = new Map([
    [1, dry.cp1],
    [2, cp2],
  ]);

  let runs = 0;
  for (let k = 1; k <= syncWrites; k++) {
    for (const torn of [false, true]) {
      const { world, second } = cpSyncOnTheWire(target);
      const at = `crash after CP-sync write ${k} of ${syncWrites}${torn ? ', torn' : ''}`;
      world.step({ kind: 'crash', node: 'dst', afterWrites: k, torn });
      world.step({ kind: 'tick', ticks: 1 });
      expect(world.isUp('dst'), at).toBe(false);
      world.step({ kind: 'restart', node: 'dst' });
      // The committed mirror is CP 1 until the root of CP 2 landed whole, then CP 2; never a mixture.
      const mirrorCp = sourceObs(world, 'src0').mirrorCp;
      expect(mirrorCp, at).toBe(k > rootWrite || (k === rootWrite && !torn) ? 2 : 1);
      expectMirrorIs(world, images.get(mirrorCp)!, at);
      // The log file lost nothing: CP 2's entries are there until a whole truncation covered them.
      const logged = logFileIds(world, 'src0').map((r) => r.writeId);
      expect(logged, at).toEqual(k === syncWrites - 1 && !torn ? [] : k === syncWrites ? [] : second);
      // So a failover now would still find every acknowledged write: mirror plus log replay.
      const replayed = mirrorImage(world, 'src0');
      for (const r of logFileIds(world, 'src0')) replayed[r.lba] = r.writeId;
      expectNoAckedWriteLost(world, 'src0', (lba) => replayed[lba]!, `${at}: mirror + log`);

      // The confirm never came: the source times out and asks where the mirror stands. At CP 1 it
      // gets CP 2's ten LBAs, the map block and the root; at CP 2 it already holds the source's
      // image, and the relationship resumes with no transfer at all.
      const sinceRestart = world.deliveries.length;
      tickUntil(world, () => settled(world, 'src0') && sourceObs(world, 'src0').mirrorCp > 2, 40, at);
      expectStaysInSync(world, 'src0', world.spec.ackTimeoutTicks + 1);
      const transfers = cpSyncsDelivered(world, 'src0', sinceRestart).filter((m) => m.resync);
      expect(
        transfers.map((m) => m.updates.length),
        at,
      ).toEqual(mirrorCp === 1 ? [10 + 1 + 1] : []);
      expectMirrorEqualsPrimary(world, 'src0');
      expect(mirrorImage(world, 'src0'), at).toEqual(cp2.lbas);
      runs++;
    }
  }
  return runs;
}

function destinationCrashInLogAppends(target: ConformanceTarget): number {
  const build = (): { world: World; tail: number[] } => {
    const world = scenarioWorld({ seed: SEED + 1, target, mode: 'sync' });
    writeAll(world, 'src0', [0, 1, 2, 3]);
    runCp(world, 'src0');
    // Three log entries on the wire: the destination appends them on the next tick.
    return { world, tail: writeAll(world, 'src0', [30, 31, 32]) };
  };
  // Each append is one full-stripe write of the RAID-4 2+1 log group: header, data, parity.
  const dry = build();
  const appendWrites = mediaWritesDuring(dry.world, 'dst', () => dry.world.step({ kind: 'tick', ticks: 1 }));
  expect(appendWrites).toBe(3 * 3);

  let runs = 0;
  for (let k = 1; k <= appendWrites; k++) {
    for (const torn of [false, true]) {
      const { world, tail } = build();
      const at = `crash after log write ${k} of ${appendWrites}${torn ? ', torn' : ''}`;
      world.step({ kind: 'crash', node: 'dst', afterWrites: k, torn });
      world.step({ kind: 'tick', ticks: 1 });
      expect(world.isUp('dst'), at).toBe(false);
      world.step({ kind: 'restart', node: 'dst' });
      world.step({ kind: 'tick', ticks: 1 });
      // The log-acks sent before the cut reach the source now: those records must have survived.
      const ackedSeq = Math.max(
        0,
        ...delivered(world, 'dst').flatMap((m) => (m.kind === 'log-ack' ? [m.seq] : [])),
      );
      const logged = logFileIds(world, 'src0');
      // A prefix of the three records, each whole: a torn record (header or data) is dropped.
      expect(
        logged.map((r) => r.writeId),
        at,
      ).toEqual(tail.slice(0, logged.length));
      expect(
        logged.map((r) => r.seq),
        at,
      ).toEqual([5, 6, 7].slice(0, logged.length));
      const whole = Math.floor(k / 3) + (k % 3 === 2 && !torn ? 1 : 0);
      expect(logged.length, at).toBe(whole);
      // An append is acknowledged only once its last write (the parity) landed and power held.
      expect(ackedSeq, at).toBe(4 + Math.floor((k - 1) / 3));
      expect(4 + logged.length, at).toBeGreaterThanOrEqual(ackedSeq);

      tickUntil(world, () => settled(world, 'src0') && sourceObs(world, 'src0').mirrorCp > 1, 40, at);
      expectStaysInSync(world, 'src0', world.spec.ackTimeoutTicks + 1);
      expectMirrorEqualsPrimary(world, 'src0');
      expect(
        world.writes.every((w) => w.outcome?.ok === true),
        at,
      ).toBe(true);
      const mirror = mirrorImage(world, 'src0');
      expect(expectNoAckedWriteLost(world, 'src0', (lba) => mirror[lba]!, at)).toBe(7);
      runs++;
    }
  }
  return runs;
}

describe('scenario 6: a destination crash in the middle of a CP sync', () => {
  it('at every media write of the CP sync, torn or whole: the committed mirror is an earlier CP image, then catches up', () => {
    expect(destinationCrashAtEveryCpSyncWrite(referenceTarget())).toBe(2 * 25);
  });

  it('with a torn log tail: acknowledged records survive, the torn one is dropped, the mirror catches up', () => {
    expect(destinationCrashInLogAppends(referenceTarget())).toBe(2 * 9);
  });
});
