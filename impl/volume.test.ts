// Tests of the write-anywhere volume over RAID-4 and RAID-DP groups: reads and CPs against an LBA
// reference, mirroring by VBN updates to another geometry, and crash consistency at every media write.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Disk } from '../harness/media/disk.ts';
import { ConfigError, PowerLoss } from '../harness/media/errors.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { Power } from '../harness/media/power.ts';
import { RaidFailure, VolumeError } from './errors.ts';
import { assembleRaidGroup, createRaidGroup, type RaidGroup } from './raid.ts';
import { applyVbnUpdates, type CpInProgress, Volume, type VolumeOptions } from './volume.ts';

const BLOCK_BYTES = 512;
const RAID4: RaidGeometry = {
  level: 'raid4',
  dataDisks: 4,
  depthBlocks: 2,
  blocksPerDisk: 128,
  blockBytes: 512,
};
const RAID_DP: RaidGeometry = {
  level: 'raid_dp',
  dataDisks: 4,
  depthBlocks: 1,
  blocksPerDisk: 128,
  blockBytes: 512,
};
/** Mirrors use another geometry than their primary: the VBN updates must not depend on it. */
const MIRROR_OF: Record<string, RaidGeometry> = {
  raid4: { level: 'raid_dp', dataDisks: 3, depthBlocks: 2, blocksPerDisk: 256, blockBytes: 512 },
  raid_dp: { level: 'raid4', dataDisks: 5, depthBlocks: 4, blocksPerDisk: 128, blockBytes: 512 },
};

/** A block whose bytes depend on `seed`, so that two versions of one LBA differ everywhere. */
function block(seed: number): Uint8Array {
  const data = new Uint8Array(BLOCK_BYTES);
  const view = new DataView(data.buffer);
  for (let i = 0; i < BLOCK_BYTES / 4; i++) view.setUint32(4 * i, Math.imul(seed + 1, 0x9e3779b1) ^ i, true);
  return data;
}

const ZERO = new Uint8Array(BLOCK_BYTES);

function hex(data: Uint8Array): string {
  return Buffer.from(data).toString('hex');
}

/** The LBA-level image a volume's committed CP must show: LBA -> data, absent LBAs read as zeros. */
type Reference = Map<number, Uint8Array>;

/** The first LBA where the volume's committed image differs from `ref`, or null when equal. */
function firstDifference(volume: Volume, ref: Reference): string | null {
  for (let lba = 0; lba < volume.lbaCount; lba++) {
    const expected = ref.get(lba) ?? ZERO;
    if (hex(volume.readCommitted(lba)) !== hex(expected)) return `LBA ${lba}`;
  }
  return null;
}

function group(geometry: RaidGeometry): RaidGroup {
  return createRaidGroup(geometry, { power: new Power() });
}

describe('Volume', () => {
  it('reads see writes at once; a CP makes them the committed image', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 100 });
    expect(hex(volume.read(7))).toBe(hex(ZERO));
    volume.write(7, block(1));
    expect(hex(volume.read(7))).toBe(hex(block(1)));
    expect(hex(volume.readCommitted(7))).toBe(hex(ZERO));
    expect(volume.dirtyCount).toBe(1);
    const cp = volume.beginCp(41);
    // Writes after beginCp go into the next CP; reads see both.
    volume.write(8, block(2));
    expect(hex(volume.read(7))).toBe(hex(block(1)));
    expect(volume.dirtyCount).toBe(1);
    volume.commit(cp);
    expect(volume.cpNumber).toBe(1);
    expect(volume.coveredSeq).toBe(41);
    expect(hex(volume.readCommitted(7))).toBe(hex(block(1)));
    expect(hex(volume.readCommitted(8))).toBe(hex(ZERO));
    volume.cp(42);
    const mounted = Volume.mount(raid);
    expect(mounted.cpNumber).toBe(2);
    expect(mounted.coveredSeq).toBe(42);
    expect(hex(mounted.read(8))).toBe(hex(block(2)));
    expect(mounted.liveVbns()).toEqual(volume.liveVbns());
  });

  it('writes a new root for a CP with nothing dirty, and only one CP at a time', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    const cp = volume.beginCp(0);
    expect(cp.updates.map((u) => u.vbn)).toEqual([1]);
    expect(() => volume.beginCp(0)).toThrow(/one CP in progress at a time/);
    volume.commit(cp);
    expect(Volume.mount(raid).cpNumber).toBe(1);
  });

  it('refuses a volume whose map does not fit a root, a blank group, and out-of-range LBAs', () => {
    expect(() => Volume.format(group(RAID4), { lbaCount: 200_000 })).toThrow(ConfigError);
    expect(() => Volume.format(group(RAID4), { lbaCount: 200_000 })).toThrow(/at most 14976 LBAs/);
    expect(() => Volume.mount(group(RAID4))).toThrow(VolumeError);
    const volume = Volume.format(group(RAID4), { lbaCount: 10 });
    expect(() => volume.write(10, block(0))).toThrow(VolumeError);
    expect(() => volume.write(0, new Uint8Array(3))).toThrow(VolumeError);
  });

  it('reports a full volume as a VolumeError, before touching any state', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: raid.vbnCount - 10 });
    for (let lba = 0; lba < volume.lbaCount; lba++) volume.write(lba, block(lba));
    volume.cp(1);
    for (let lba = 0; lba < 20; lba++) volume.write(lba, block(lba + 1000));
    expect(() => volume.cp(2)).toThrow(/volume full/);
    expect(volume.dirtyCount).toBe(20);
    expect(hex(volume.read(3))).toBe(hex(block(1003)));
  });

  it('never writes a CP into a VBN the committed image uses (and the canary knob does)', () => {
    for (const unsafe of [false, true]) {
      const volume = Volume.format(group(RAID4), { lbaCount: 100, unsafeReuseFreedBeforeCommit: unsafe });
      for (let lba = 0; lba < 50; lba++) volume.write(lba, block(lba));
      volume.cp(1);
      for (let lba = 0; lba < 50; lba += 2) volume.write(lba, block(lba + 500));
      const live = new Set(volume.liveVbns());
      const cp = volume.beginCp(2);
      const overwritten = cp.updates.slice(0, -1).filter((u) => live.has(u.vbn));
      expect(overwritten.length > 0, `unsafe ${unsafe}`).toBe(unsafe);
      volume.commit(cp);
    }
  });

  for (const geometry of [RAID4, RAID_DP]) {
    it(`matches an LBA reference over write/CP/remount sequences, and so does a mirror (${geometry.level})`, () => {
      type Cmd = { kind: 'write'; lba: number; seed: number } | { kind: 'cp' } | { kind: 'remount' };
      const lbaCount = 200;
      const cmdArb = fc.oneof(
        {
          weight: 8,
          arbitrary: fc
            .record({ lba: fc.nat({ max: lbaCount - 1 }), seed: fc.nat({ max: 1 << 20 }) })
            .map((w): Cmd => ({ kind: 'write', ...w })),
        },
        { weight: 2, arbitrary: fc.constant<Cmd>({ kind: 'cp' }) },
        { weight: 1, arbitrary: fc.constant<Cmd>({ kind: 'remount' }) },
      );
      fc.assert(
        fc.property(fc.array(cmdArb, { maxLength: 60, size: 'max' }), (cmds) => {
          const raid = group(geometry);
          let volume = Volume.format(raid, { lbaCount });
          const mirrorRaid = group(MIRROR_OF[geometry.level]!);
          applyVbnUpdates(mirrorRaid, volume.allLiveBlocks());
          let committed: Reference = new Map();
          let latest: Reference = new Map();
          let seq = 0;
          for (const cmd of [...cmds, { kind: 'cp' } as Cmd]) {
            if (cmd.kind === 'write') {
              volume.write(cmd.lba, block(cmd.seed));
              latest.set(cmd.lba, block(cmd.seed));
              expect(hex(volume.read(cmd.lba))).toBe(hex(block(cmd.seed)));
            } else if (cmd.kind === 'remount') {
              // Memory is lost: uncommitted writes are gone (the NVLOG, not tested here, replays them).
              volume = Volume.mount(raid);
              latest = new Map(committed);
            } else {
              const cp = volume.cp(++seq);
              committed = new Map(latest);
              applyVbnUpdates(mirrorRaid, cp.updates);
              const fresh = Volume.mount(raid);
              expect(fresh.cpNumber).toBe(volume.cpNumber);
              expect(fresh.coveredSeq).toBe(seq);
              expect(firstDifference(fresh, committed)).toBeNull();
              expectMirrorEqual(fresh, Volume.mount(mirrorRaid));
            }
          }
        }),
        { numRuns: 20, seed: 4501 },
      );
    });
  }

  it('applyVbnUpdates insists on the root last', () => {
    const volume = Volume.format(group(RAID4), { lbaCount: 20 });
    volume.write(1, block(1));
    const cp = volume.beginCp(1);
    const reordered = [cp.updates.at(-1)!, ...cp.updates.slice(0, -1)];
    expect(() => applyVbnUpdates(group(RAID_DP), reordered)).toThrow(/the last VBN update is a root slot/);
  });

  it('survives a cut at every media write of a CP, torn or whole: old image or new, never a mixture', () => {
    const result = crashEveryWrite(RAID4, {}, 'none');
    expect(result.writes).toBeGreaterThanOrEqual(20);
    expect(result.fullStripeWrites).toBeGreaterThan(0);
    expect(result.problems).toEqual([]);
    // Both outcomes are reached: the check is not vacuous.
    expect(result.outcomes.has('old')).toBe(true);
    expect(result.outcomes.has('new')).toBe(true);
  });

  it('survives a cut at every media write of a CP on RAID-DP too', () => {
    const result = crashEveryWrite(RAID_DP, {}, 'none');
    expect(result.problems).toEqual([]);
    expect(result.outcomes.has('old') && result.outcomes.has('new')).toBe(true);
  });

  it('after a cut and a parity resync, any one failed disk still reads the same image (RAID-4)', () => {
    const result = crashEveryWrite(RAID4, {}, 'all');
    expect(result.problems).toEqual([]);
  });

  it('after a cut and a parity resync, a failed disk still reads the same image (RAID-DP)', () => {
    const result = crashEveryWrite(RAID_DP, {}, 'rotating');
    expect(result.problems).toEqual([]);
  });

  it('canary: reusing freed blocks before the commit is caught at some crash point', () => {
    const result = crashEveryWrite(RAID4, { unsafeReuseFreedBeforeCommit: true }, 'none');
    expect(result.problems.length).toBeGreaterThan(0);
    expect(result.problems.join('\n')).toMatch(/mixture|cannot mount or read/);
  });
});

describe('Volume base images (incremental resync)', () => {
  it('keeps pinned images intact across CPs and remounts; changedBlocksSince resyncs a mirror at either', () => {
    type Cmd =
      | { kind: 'write'; lba: number; seed: number }
      | { kind: 'cp' }
      | { kind: 'linkDown'; lastDelivered: boolean }
      | { kind: 'resync' }
      | { kind: 'remount' };
    const lbaCount = 150;
    let resyncsFromPrevious = 0;
    let resyncsFromCurrent = 0;
    let remountsWhilePinned = 0;
    const cmdArb = fc.oneof(
      {
        weight: 8,
        arbitrary: fc
          .record({ lba: fc.nat({ max: lbaCount - 1 }), seed: fc.nat({ max: 1 << 20 }) })
          .map((w): Cmd => ({ kind: 'write', ...w })),
      },
      { weight: 3, arbitrary: fc.constant<Cmd>({ kind: 'cp' }) },
      {
        weight: 1,
        arbitrary: fc.boolean().map((lastDelivered): Cmd => ({ kind: 'linkDown', lastDelivered })),
      },
      { weight: 1, arbitrary: fc.constant<Cmd>({ kind: 'resync' }) },
      { weight: 1, arbitrary: fc.constant<Cmd>({ kind: 'remount' }) },
    );
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 50, size: 'max' }), (cmds) => {
        const raid = group(RAID4);
        let volume = Volume.format(raid, { lbaCount });
        const mirrorRaid = group(MIRROR_OF.raid4!);
        Volume.format(mirrorRaid, { lbaCount });
        let inSync = true;
        // In sync, a CP's updates reach the mirror when the next one is sent (or are lost at linkDown).
        let unconfirmed: CpInProgress | null = null;
        for (const cmd of [...cmds, { kind: 'resync' } as Cmd]) {
          if (cmd.kind === 'write') volume.write(cmd.lba, block(cmd.seed));
          else if (cmd.kind === 'remount') {
            const pinned = volume.pinnedCps;
            volume = Volume.mount(raid);
            expect(volume.pinnedCps).toEqual(pinned);
            if (pinned.length > 0) remountsWhilePinned++;
          } else if (cmd.kind === 'cp') {
            if (inSync && unconfirmed) applyVbnUpdates(mirrorRaid, unconfirmed.updates);
            const cp = volume.cp(volume.cpNumber + 1);
            unconfirmed = inSync ? cp : null;
          } else if (cmd.kind === 'linkDown' && inSync) {
            if (unconfirmed && cmd.lastDelivered) applyVbnUpdates(mirrorRaid, unconfirmed.updates);
            unconfirmed = null;
            inSync = false;
            volume.pinBaseImages();
          } else if (cmd.kind === 'resync' && !inSync) {
            const mirror = Volume.mount(mirrorRaid);
            expect(volume.pinnedCps).toContain(mirror.cpNumber);
            if (mirror.cpNumber < volume.pinnedCps[0]!) resyncsFromPrevious++;
            else resyncsFromCurrent++;
            // The transfer's root must not land in the slot of the mirror's committed root.
            volume.cp(volume.cpNumber + 1);
            if ((volume.cpNumber - mirror.cpNumber) % 2 === 0) volume.cp(volume.cpNumber + 1);
            const updates = volume.changedBlocksSince(mirror.cpNumber);
            expect(updates).not.toBeNull();
            const mirrorLive = new Set(mirror.liveVbns());
            for (const u of updates!)
              expect(mirrorLive.has(u.vbn), `VBN ${u.vbn} is live in the mirror`).toBe(false);
            applyVbnUpdates(mirrorRaid, updates!);
            expectMirrorEqual(volume, Volume.mount(mirrorRaid));
            const freeBefore = volume.freeCount;
            volume.unpinBaseImages();
            expect(volume.pinnedCps).toEqual([]);
            expect(volume.freeCount).toBeGreaterThanOrEqual(freeBefore);
            expect(Volume.mount(raid).pinnedCps).toEqual([]);
            inSync = true;
          }
        }
      }),
      { numRuns: 30, seed: 4502 },
    );
    // Sometimes: both kinds of base image are really resynchronised from, so the check is not vacuous.
    expect(resyncsFromPrevious).toBeGreaterThan(0);
    expect(resyncsFromCurrent).toBeGreaterThan(0);
    expect(remountsWhilePinned).toBeGreaterThan(0);
  });

  it('pins the current and the previous image, answers null for an unknown one, and unpins', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 50 });
    for (let round = 1; round <= 3; round++) {
      for (let lba = 0; lba < 50; lba += round) volume.write(lba, block(round * 100 + lba));
      volume.cp(round);
    }
    const free = volume.freeCount;
    volume.pinBaseImages();
    expect(volume.pinnedCps).toEqual([3, 2]);
    // Image 2's blocks that image 3 replaced are no longer allocatable.
    expect(volume.freeCount).toBeLessThan(free);
    expect(volume.changedBlocksSince(1)).toBeNull();
    expect(volume.changedBlocksSince(3)!.map((u) => u.vbn)).toEqual([1]);
    expect(volume.changedBlocksSince(2)!.length).toBeGreaterThan(1);
    volume.unpinBaseImages();
    expect(volume.freeCount).toBe(free);
    expect(volume.changedBlocksSince(2)).toBeNull();
  });

  it('a cut during pinBaseImages leaves either no pin or the whole pin', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 30 });
    volume.write(1, block(1));
    volume.cp(1);
    volume.write(1, block(2));
    volume.cp(2);
    const seen = new Set<string>();
    cutAtEveryWrite(
      raid,
      (v) => v.pinBaseImages(),
      (mounted) => {
        // A torn slot 2: slot 3, written first, and the mounted image are pinned, as if it were whole.
        expect([[], [2, 1]]).toContainEqual(mounted.pinnedCps);
        seen.add(JSON.stringify(mounted.pinnedCps));
      },
    );
    expect(seen.size).toBe(2);
  });

  it('a cut while unpinning keeps the mounted image known: pinned, or nothing pinned at all', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 30 });
    for (let cp = 1; cp <= 2; cp++) {
      volume.write(cp, block(cp));
      volume.cp(cp);
    }
    volume.pinBaseImages();
    volume.write(1, block(13));
    volume.cp(3);
    volume.pinTransferImages(1); // [3, 1]: a transfer from CP 1 to CP 3 is on its way
    const seen = new Set<string>();
    cutAtEveryWrite(
      raid,
      (v) => v.unpinBaseImages(), // the mirror confirmed CP 3
      (mounted, k, disks) => {
        // The mirror holds CP 3, the mounted image: with nothing pinned, a restart pins it as the current
        // one; with slot 2 torn it must be pinned already, and stay pinned past the recovery CP.
        expect(mounted.cpNumber).toBe(3);
        const pinned = mounted.pinnedCps;
        expect([[], [3, 1]], `cut at write ${k}`).toContainEqual(pinned);
        seen.add(JSON.stringify(pinned));
        mounted.pinBaseImages();
        mounted.write(2, block(20));
        mounted.cp(4);
        const again = Volume.mount(assembleRaidGroup(RAID4, disks));
        expect(again.pinnedCps, `cut at write ${k}, mounted again`).toContain(3);
        expect(again.changedBlocksSince(3)!.length, `cut at write ${k}`).toBeGreaterThan(0);
      },
    );
    expect(seen).toEqual(new Set(['[]', '[3,1]']));
  });

  it("pins a transfer's base and its image; a cut in between keeps the base pinned", () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 30 });
    for (let cp = 1; cp <= 2; cp++) {
      volume.write(cp, block(cp));
      volume.cp(cp);
    }
    volume.pinBaseImages(); // [2, 1]: the mirror holds CP 1 or 2
    for (let cp = 3; cp <= 5; cp++) {
      volume.write(1, block(10 + cp));
      volume.cp(cp);
    }
    const seen = new Set<string>();
    const last = cutAtEveryWrite(
      raid,
      (v) => v.pinTransferImages(1),
      (mounted, k) => {
        // Whatever the cut, the base is pinned (the mirror holds it until the transfer is sent) and the
        // transfer from it can be computed.
        expect(mounted.pinnedCps, `cut at write ${k}`).toContain(1);
        expect(mounted.changedBlocksSince(1)).not.toBeNull();
        seen.add(JSON.stringify(mounted.pinnedCps));
      },
    );
    expect(last.pinnedCps).toEqual([5, 1]);
    // Slot 3 holds the base already, so one write names the transfer's image in slot 2; cut, torn,
    // it pins the mounted image (CP 5) beside slot 3's base: the pins of the finished write.
    expect(seen).toEqual(new Set(['[5,1]']));
  });
});

/**
 * Runs `op` on a copy of `raid`'s volume with a torn power cut after its k-th media write, for k = 1,
 * 2, ... until `op` finishes, and hands `check` the volume mounted after each cut (parity resynced);
 * the last mount is after `op` finished, and is returned. `check` also gets the disks, to mount again.
 */
function cutAtEveryWrite(
  raid: RaidGroup,
  op: (volume: Volume) => void,
  check: (mounted: Volume, k: number, disks: Disk[]) => void,
): Volume {
  const before = raid.disks.map((d) => d.clone(new Power()));
  for (let k = 1; ; k++) {
    const power = new Power();
    const disks = before.map((d) => d.clone(power));
    const victim = Volume.mount(assembleRaidGroup(RAID4, disks));
    power.armCut(k, true);
    let finished = false;
    try {
      op(victim);
      finished = true;
    } catch (error) {
      if (!(error instanceof PowerLoss)) throw error;
    }
    power.restore();
    const recovered = assembleRaidGroup(RAID4, disks);
    recovered.resyncParity();
    const mounted = Volume.mount(recovered);
    check(mounted, k, disks);
    if (finished) return mounted;
  }
}

function expectMirrorEqual(primary: Volume, mirror: Volume): void {
  expect(mirror.cpNumber).toBe(primary.cpNumber);
  expect(mirror.liveVbns()).toEqual(primary.liveVbns());
  for (const vbn of primary.liveVbns())
    expect(hex(mirror.readVbn(vbn)), `VBN ${vbn}`).toBe(hex(primary.readVbn(vbn)));
  for (let lba = 0; lba < primary.lbaCount; lba++)
    expect(hex(mirror.readCommitted(lba)), `LBA ${lba}`).toBe(hex(primary.readCommitted(lba)));
}

interface CrashResult {
  /** Media writes of the CP under test. */
  writes: number;
  fullStripeWrites: number;
  problems: string[];
  outcomes: Set<'old' | 'new'>;
}

/**
 * Builds a volume with two CPs behind it, then cuts the power after each media write k of a third CP,
 * torn and whole, each time from clones of the disks as they were before that CP. After the cut: power
 * back, a new RAID group over the same disks, parity resync, mount; the image must be exactly the
 * previous CP's or the new one's, with the matching CP number, and with a disk failed (`failures`)
 * still the same image, read from parity.
 */
/** After each cut: fail no disk, each disk in turn, or one disk per cut point, rotating. */
type DiskFailures = 'none' | 'all' | 'rotating';

function crashEveryWrite(
  geometry: RaidGeometry,
  options: VolumeOptions,
  failures: DiskFailures,
): CrashResult {
  const lbaCount = 120;
  const raid = createRaidGroup(geometry, { power: new Power() });
  const volume = Volume.format(raid, { lbaCount, ...options });
  const ref: Reference = new Map();
  const write = (v: Volume, r: Reference, lba: number, seed: number): void => {
    v.write(lba, block(seed));
    r.set(lba, block(seed));
  };
  for (let lba = 0; lba < 60; lba++) write(volume, ref, lba, lba);
  volume.cp(1);
  for (let lba = 0; lba < 60; lba += 3) write(volume, ref, lba, lba + 100);
  volume.cp(2);
  const before = raid.disks.map((d) => d.clone(new Power()));
  const previous = new Map(ref);
  // The CP under test: overwrites (their old VBNs are freed) and fresh LBAs, over several stripes.
  const cpWrites = (v: Volume, r: Reference): void => {
    for (let lba = 0; lba < 60; lba += 2) write(v, r, lba, lba + 200);
    for (let lba = 90; lba < 110; lba++) write(v, r, lba, lba + 200);
  };
  const next = new Map(ref);
  cpWrites(volume, next);
  const { writes, fullStripeWrites } = countCp(geometry, before, options, cpWrites);

  const problems: string[] = [];
  const outcomes = new Set<'old' | 'new'>();
  for (let k = 1; k <= writes; k++) {
    for (const torn of [false, true]) {
      const where = `cut after media write ${k}/${writes} (${torn ? 'torn' : 'whole'})`;
      const power = new Power();
      const disks = before.map((d) => d.clone(power));
      const victim = Volume.mount(assembleRaidGroup(geometry, disks), options);
      cpWrites(victim, new Map());
      power.armCut(k, torn);
      expect(() => victim.cp(3), where).toThrow(PowerLoss);
      power.restore();
      const recovered = assembleRaidGroup(geometry, disks);
      recovered.resyncParity();
      const outcome = checkImage(recovered, options, previous, next);
      if ('problem' in outcome) {
        problems.push(`${where}: ${outcome.problem}`);
        continue;
      }
      outcomes.add(outcome.image);
      const victims =
        failures === 'all' ? disks.map((_, i) => i) : failures === 'rotating' ? [k % disks.length] : [];
      for (const failed of victims) {
        const degraded = disks.map((d) => d.clone(new Power()));
        degraded[failed]!.fail();
        const again = checkImage(assembleRaidGroup(geometry, degraded), options, previous, next);
        if (!('image' in again) || again.image !== outcome.image)
          problems.push(
            `${where}, disk ${failed} failed: ${JSON.stringify(again)} instead of ${outcome.image}`,
          );
      }
    }
  }
  return { writes, fullStripeWrites, problems, outcomes };
}

type Outcome = { image: 'old' | 'new' } | { problem: string };

/**
 * Which image a group mounts ('old' CP 2, 'new' CP 3), or what is wrong with it. Every LBA is read:
 * one that reads back other data than the mounted CP's image is a wrong image even when another LBA
 * cannot be read; unreadable LBAs alone are a refusal ('cannot mount or read').
 */
function checkImage(raid: RaidGroup, options: VolumeOptions, previous: Reference, next: Reference): Outcome {
  let volume: Volume;
  try {
    volume = Volume.mount(raid, options);
  } catch (error) {
    if (error instanceof PowerLoss) throw error;
    return { problem: `cannot mount or read: ${error}` };
  }
  const cp = volume.cpNumber;
  if (cp !== 2 && cp !== 3) return { problem: `mounted CP ${cp}, neither CP 2 nor CP 3` };
  const expected = cp === 2 ? previous : next;
  let unreadable: string | null = null;
  for (let lba = 0; lba < volume.lbaCount; lba++) {
    let data: Uint8Array;
    try {
      data = volume.readCommitted(lba);
    } catch (error) {
      if (error instanceof PowerLoss) throw error;
      unreadable ??= `LBA ${lba}: ${error}`;
      continue;
    }
    if (hex(data) !== hex(expected.get(lba) ?? ZERO)) {
      const other = cp === 2 ? next : previous;
      const what = hex(data) === hex(other.get(lba) ?? ZERO) ? `CP ${5 - cp}'s data` : 'data of neither CP';
      return { problem: `a mixture: mounted CP ${cp}, but LBA ${lba} reads ${what}` };
    }
  }
  if (unreadable !== null) return { problem: `cannot mount or read: ${unreadable}` };
  return { image: cp === 2 ? 'old' : 'new' };
}

/** Runs the CP under test once, uncut, on clones: how many media writes it makes. */
function countCp(
  geometry: RaidGeometry,
  before: readonly Disk[],
  options: VolumeOptions,
  cpWrites: (v: Volume, r: Reference) => void,
): { writes: number; fullStripeWrites: number } {
  const power = new Power();
  const raid = assembleRaidGroup(
    geometry,
    before.map((d) => d.clone(power)),
  );
  const volume = Volume.mount(raid, options);
  cpWrites(volume, new Map());
  const start = power.writes;
  const cp: CpInProgress = volume.cp(3);
  expect(cp.updates.length).toBeGreaterThan(20);
  return { writes: power.writes - start, fullStripeWrites: raid.stats.fullStripeWrites };
}

describe('the storage stack errors', () => {
  it('are typed, named, and carry their message', () => {
    for (const [error, name] of [
      [new RaidFailure('r'), 'RaidFailure'],
      [new VolumeError('v'), 'VolumeError'],
    ] as const) {
      expect(error).toBeInstanceOf(Error);
      expect([error.name, error.message]).toEqual([name, name === 'RaidFailure' ? 'r' : 'v']);
    }
  });
});
