// Tests of the write-anywhere volume over RAID-4 and RAID-DP groups: reads and CPs against an LBA
// reference, mirroring by VBN updates to another geometry, and crash consistency at every media write.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import type { Disk } from '../harness/media/disk.ts';
import { ConfigError, PowerLoss } from '../harness/media/errors.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { Power } from '../harness/media/power.ts';
import { RaidFailure, VolumeError } from './errors.ts';
import { assembleRaidGroup, createRaidGroup, type RaidGroup, type VbnBlock } from './raid.ts';
import {
  applyVbnUpdates,
  type CpInProgress,
  isRootSlot,
  maxLbaCount,
  Volume,
  type VolumeOptions,
} from './volume.ts';

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
/** 64-byte blocks on 2 data disks: 16 VBNs, so a few LBAs fill the group (a root lists 5 map blocks). */
const TINY: RaidGeometry = { level: 'raid4', dataDisks: 2, depthBlocks: 1, blocksPerDisk: 9, blockBytes: 64 };
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
  // The whole image in one call reads what LBA-by-LBA reads do.
  const image = volume.readCommittedImage();
  if (image.length !== volume.lbaCount) return `image of ${image.length} LBAs`;
  for (let lba = 0; lba < volume.lbaCount; lba++) {
    const expected = ref.get(lba) ?? ZERO;
    if (hex(volume.readCommitted(lba)) !== hex(expected)) return `LBA ${lba}`;
    if (hex(image[lba]!) !== hex(expected)) return `LBA ${lba} of the image`;
  }
  return null;
}

function group(geometry: RaidGeometry): RaidGroup {
  return createRaidGroup(geometry, { power: new Power() });
}

/** `raid` with hooks that see each read and write call before `raid` serves it (and may throw). */
function spied(
  raid: RaidGroup,
  hooks: { read?: (vbn: number) => void; write?: (blocks: readonly VbnBlock[]) => void },
): RaidGroup {
  return {
    geometry: raid.geometry,
    tolerance: raid.tolerance,
    vbnCount: raid.vbnCount,
    blockBytes: raid.blockBytes,
    disks: raid.disks,
    stats: raid.stats,
    read: (vbn) => {
      hooks.read?.(vbn);
      return raid.read(vbn);
    },
    readInto: (vbn, out) => {
      hooks.read?.(vbn);
      raid.readInto(vbn, out);
    },
    write: (blocks) => {
      hooks.write?.(blocks);
      raid.write(blocks);
    },
    failedDisks: () => raid.failedDisks(),
    replaceAndRebuild: (index, spare, options) => raid.replaceAndRebuild(index, spare, options),
    resyncParity: () => raid.resyncParity(),
    scrub: () => raid.scrub(),
  };
}

/** `raid` with the VBNs of each write call recorded, in order: which blocks an operation writes, and when. */
function recorded(raid: RaidGroup): { raid: RaidGroup; writes: number[][] } {
  const writes: number[][] = [];
  return { raid: spied(raid, { write: (blocks) => writes.push(blocks.map((b) => b.vbn)) }), writes };
}

/**
 * A copy of a root block (or any block) with u32 fields set, `offset -> value`, and its checksum made
 * right again: a root whose only fault is the field under test. Offsets: 0 magic, 4 version, 8 and 12
 * cpNumber, 16 and 20 coveredSeq, 24 lbaCount, 28 map block count, 32 blockBytes, 40.. map VBNs.
 */
function resealed(bytes: Uint8Array, fields: Record<number, number>): Uint8Array {
  const copy = new Uint8Array(bytes);
  const view = new DataView(copy.buffer);
  for (const [offset, value] of Object.entries(fields)) view.setUint32(Number(offset), value, true);
  view.setUint32(copy.length - 4, checksum(copy.subarray(0, copy.length - 4)), true);
  return copy;
}

/** A map block of `blockBytes` bytes: entry i (LBA i of its range) -> VBN, every other entry 0. */
function mapBlock(entries: Record<number, number>, blockBytes = BLOCK_BYTES): Uint8Array {
  const bytes = new Uint8Array(blockBytes);
  const view = new DataView(bytes.buffer);
  for (const [i, vbn] of Object.entries(entries)) view.setUint32(4 * Number(i), vbn, true);
  return bytes;
}

/** The VBN of each u32 entry of a map block, as written by a CP. */
function mapEntries(data: Uint8Array): number[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return Array.from({ length: data.length / 4 }, (_, i) => view.getUint32(4 * i, true));
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

describe('Volume format, mount and the root', () => {
  it('format checks lbaCount against the root and the group', () => {
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => Volume.format(group(RAID4), { lbaCount: bad })).toThrow(
        `lbaCount ${bad} must be a positive integer`,
      );
    const one = group(RAID4);
    Volume.format(one, { lbaCount: 1 });
    expect(Volume.mount(one).lbaCount).toBe(1);
    // 496 LBAs in 4 map blocks fill the 504 VBNs exactly (4 are reserved); one LBA more does not fit.
    expect(Volume.format(group(RAID4), { lbaCount: 496 }).freeCount).toBe(500);
    expect(() => Volume.format(group(RAID4), { lbaCount: 497 })).toThrow(
      'lbaCount 497 cannot fit: a fully written image needs 505 VBNs, the RAID group has 504',
    );
    // A root of 64-byte blocks lists 5 map blocks of 16 entries: 80 LBAs pass that check (and not the
    // group's 16 VBNs), 81 do not.
    expect(maxLbaCount(64)).toBe(80);
    expect(maxLbaCount(BLOCK_BYTES)).toBe(14976);
    expect(() => Volume.format(group(TINY), { lbaCount: 80 })).toThrow(
      /needs 89 VBNs, the RAID group has 16/,
    );
    expect(() => Volume.format(group(TINY), { lbaCount: 81 })).toThrow(
      'lbaCount 81 needs 6 map blocks, but a root of 64-byte blocks lists at most 5: at most 80 LBAs',
    );
    expect(() => Volume.format(group(TINY), { lbaCount: 81 })).toThrow(ConfigError);
    expect([0, 1, 2, 3, -1].map(isRootSlot)).toEqual([true, true, false, false, false]);
  });

  it('format writes slots 1..3 blank, then the root of CP 0: nothing an earlier volume left is taken', () => {
    const raid = group(RAID4);
    const old = Volume.format(raid, { lbaCount: 40 });
    for (let cp = 1; cp <= 3; cp++) {
      old.write(cp, block(cp));
      old.cp(cp);
    }
    old.pinBaseImages(); // slots 2 and 3 hold the roots of CPs 3 and 2
    const spy = recorded(raid);
    const fresh = Volume.format(spy.raid, { lbaCount: 40 });
    expect(spy.writes).toEqual([[1, 2, 3], [0]]);
    for (const vbn of [1, 2, 3]) expect(hex(raid.read(vbn)), `VBN ${vbn}`).toBe(hex(ZERO));
    const mounted = Volume.mount(raid);
    expect([mounted.cpNumber, mounted.coveredSeq, mounted.pinnedCps]).toEqual([0, 0, []]);
    expect([fresh.freeCount, mounted.freeCount]).toEqual([500, 500]);
    expect(hex(mounted.read(1))).toBe(hex(ZERO));
    expect(mounted.liveVbns()).toEqual([0]);
  });

  it('mount refuses a group past its tolerance and a group without a root, saying why', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    volume.write(0, block(0));
    volume.cp(1);
    raid.disks[0]!.fail();
    expect(Volume.mount(raid).cpNumber).toBe(1);
    raid.disks[1]!.fail();
    expect(() => Volume.mount(raid)).toThrow(
      'the RAID group has 2 failed disks, more than the 1 it tolerates: the volume is offline',
    );
    expect(() => Volume.mount(raid)).toThrow(VolumeError);
    expect(() => Volume.mount(group(RAID4))).toThrow(
      'no valid root in VBN 0 or 1: the RAID group holds no formatted volume, or both roots are damaged',
    );
  });

  it('mount takes a root only when every field is right, and the newest such root', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 200 }); // 2 map blocks
    volume.write(150, block(1));
    volume.cp(7); // CP 1, slot 1
    volume.write(3, block(2));
    volume.cp(8); // CP 2, slot 0
    const cp2 = raid.read(0);
    const mountedWith = (slot1: Uint8Array): Volume => {
      raid.write([{ vbn: 1, data: slot1 }]);
      return Volume.mount(raid);
    };
    // CP 2's root renumbered CP 3 is a right root for slot 1, and the newest: it is mounted.
    const good = mountedWith(resealed(cp2, { 8: 3 }));
    expect([good.cpNumber, good.coveredSeq, good.lbaCount]).toEqual([3, 8, 200]);
    expect(hex(good.read(150))).toBe(hex(block(1)));
    expect(hex(good.read(3))).toBe(hex(block(2)));
    // As many map blocks as a root lists (117) is still a root.
    expect(mountedWith(resealed(cp2, { 8: 3, 24: 14976, 28: 117 })).lbaCount).toBe(14976);
    const flipped = resealed(cp2, { 8: 3 });
    flipped[100]! ^= 1;
    const broken: [string, Uint8Array][] = [
      ['magic', resealed(cp2, { 0: 0x43505357, 8: 3 })],
      ['version', resealed(cp2, { 4: 2, 8: 3 })],
      ['checksum', flipped],
      ['block size', resealed(cp2, { 8: 3, 32: 256 })],
      ['an even CP in slot 1', resealed(cp2, { 8: 4 })],
      ['no LBAs', resealed(cp2, { 8: 3, 24: 0, 28: 0 })],
      ['too few map blocks for its LBAs', resealed(cp2, { 8: 3, 24: 257 })],
      ['too many map blocks for its LBAs', resealed(cp2, { 8: 3, 28: 3 })],
      ['more map blocks than a root lists', resealed(cp2, { 8: 3, 24: 118 * 128, 28: 118 })],
    ];
    for (const [what, bytes] of broken) {
      const mounted = mountedWith(bytes);
      expect([mounted.cpNumber, mounted.coveredSeq], what).toEqual([2, 8]);
    }
    // Slot 0 holds even CPs only: an odd one there is no root, and slot 1's CP 3 is mounted.
    mountedWith(resealed(cp2, { 8: 3 }));
    raid.write([{ vbn: 0, data: resealed(cp2, { 8: 5 }) }]);
    expect(Volume.mount(raid).cpNumber).toBe(3);
  });

  it('keeps 64-bit CP numbers and covered seqs across CPs and mounts', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    volume.write(1, block(1));
    volume.cp(2 ** 40 + 5);
    expect(Volume.mount(raid).coveredSeq).toBe(2 ** 40 + 5);
    volume.cp(Number.MAX_SAFE_INTEGER);
    expect(Volume.mount(raid).coveredSeq).toBe(Number.MAX_SAFE_INTEGER);
    // CP 2's root renumbered CP 2^32 + 4: the next CP is 2^32 + 5, in slot 1.
    raid.write([{ vbn: 0, data: resealed(raid.read(0), { 8: 4, 12: 1 }) }]);
    const far = Volume.mount(raid);
    expect(far.cpNumber).toBe(2 ** 32 + 4);
    far.write(2, block(2));
    expect(far.cp(9).updates.at(-1)!.vbn).toBe(1);
    const again = Volume.mount(raid);
    expect([again.cpNumber, again.coveredSeq]).toEqual([2 ** 32 + 5, 9]);
    expect(hex(again.read(1))).toBe(hex(block(1)));
    expect(hex(again.read(2))).toBe(hex(block(2)));
  });

  it('mount refuses an image whose map is corrupt, naming the block', () => {
    const setup = (): { raid: RaidGroup; mapVbn: number } => {
      const raid = group(RAID4);
      const volume = Volume.format(raid, { lbaCount: 10 });
      volume.write(1, block(1));
      volume.cp(1); // LBA 1 at VBN 4, the map block at 5
      volume.write(2, block(2));
      const cp = volume.cp(2); // LBA 2 at VBN 6, the map block at 7
      expect(cp.updates.map((u) => u.vbn)).toEqual([6, 7, 0]);
      return { raid, mapVbn: 7 };
    };
    const withMap = (entries: Record<number, number>): (() => Volume) => {
      const { raid, mapVbn } = setup();
      raid.write([{ vbn: mapVbn, data: mapBlock(entries) }]);
      return () => Volume.mount(raid);
    };
    // The last VBN of the group is a data block like any other.
    expect(hex(withMap({ 1: 4, 2: 6, 3: 503 })().read(3))).toBe(hex(ZERO));
    expect(withMap({ 1: 4, 2: 6, 3: 4 })).toThrow('corrupt image: VBN 4 is used twice');
    expect(withMap({ 1: 4, 2: 6, 3: 3 })).toThrow(
      "data block at VBN 3 lies outside this RAID group's VBNs 4..503",
    );
    expect(withMap({ 1: 4, 2: 6, 3: 504 })).toThrow(/data block at VBN 504 lies outside/);
    expect(withMap({ 1: 4, 2: 6, 3: 7 })).toThrow('corrupt image: VBN 7 is used twice');
    expect(withMap({ 1: 4, 2: 6, 10: 9 })).toThrow('corrupt map block at VBN 7: an entry past the LBA count');
    expect(withMap({ 1: 4, 2: 6, 10: 0 })().read(2)).toEqual(block(2));
    // The root's own map VBNs: a reserved slot, or beyond the group.
    for (const mapVbn of [3, 504]) {
      const { raid } = setup();
      raid.write([{ vbn: 0, data: resealed(raid.read(0), { 40: mapVbn }) }]);
      expect(() => Volume.mount(raid)).toThrow(
        `map block at VBN ${mapVbn} lies outside this RAID group's 504 VBNs`,
      );
    }
    // VBNs 4 and 503, the first and the last a block may take, hold map blocks as well as any other.
    for (const mapVbn of [4, 503]) {
      const { raid } = setup();
      raid.write([
        { vbn: mapVbn, data: mapBlock({ 2: 6 }) },
        { vbn: 0, data: resealed(raid.read(0), { 40: mapVbn }) },
      ]);
      const mounted = Volume.mount(raid);
      expect(mounted.liveVbns(), `map block at ${mapVbn}`).toEqual([0, mapVbn, 6].sort((a, b) => a - b));
      expect(mounted.read(2)).toEqual(block(2));
    }
  });
});

describe('Volume reads, writes and CPs', () => {
  it('copies what it is given and what it returns', () => {
    const volume = Volume.format(group(RAID4), { lbaCount: 10 });
    const data = block(1);
    volume.write(2, data);
    data.fill(0);
    const seen = volume.read(2);
    expect(hex(seen)).toBe(hex(block(1)));
    seen.fill(7);
    expect(hex(volume.read(2))).toBe(hex(block(1)));
    const cp = volume.beginCp(1);
    volume.read(2).fill(7);
    expect(hex(volume.read(2))).toBe(hex(block(1)));
    expect(hex(volume.readCommitted(2))).toBe(hex(ZERO));
    volume.commit(cp);
    volume.readCommitted(2).fill(7);
    expect(hex(volume.readCommitted(2))).toBe(hex(block(1)));
    const image = volume.readCommittedImage();
    for (const b of image) b.fill(7);
    expect(hex(volume.readCommittedImage()[2]!)).toBe(hex(block(1)));
    expect(hex(volume.readCommittedImage()[3]!)).toBe(hex(ZERO));
  });

  it('refuses LBAs outside the volume, blocks of the wrong size and bad covered seqs, changing nothing', () => {
    const volume = Volume.format(group(RAID4), { lbaCount: 10 });
    for (const lba of [-1, 10, 1.5, Number.NaN]) {
      expect(() => volume.read(lba)).toThrow(`LBA ${lba} is outside the volume's 0..9`);
      expect(() => volume.readCommitted(lba)).toThrow(`LBA ${lba} is outside the volume's 0..9`);
      expect(() => volume.write(lba, block(0))).toThrow(VolumeError);
    }
    expect(hex(volume.read(0))).toBe(hex(ZERO));
    expect(hex(volume.read(9))).toBe(hex(ZERO));
    expect(() => volume.write(3, new Uint8Array(511))).toThrow(
      "write to LBA 3: 511 bytes, the volume's blocks are 512",
    );
    expect(volume.dirtyCount).toBe(0);
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN])
      expect(() => volume.beginCp(bad)).toThrow(`coveredSeq ${bad} must be a non-negative integer`);
    expect(volume.cpInProgress).toBeNull();
    expect(volume.cp(0).cpNumber).toBe(1);
  });

  it('allocates the lowest free VBNs, data in LBA order then map blocks; replaced blocks free at the commit', () => {
    const spy = recorded(group(RAID4));
    const volume = Volume.format(spy.raid, { lbaCount: 300 }); // 3 map blocks of 128 entries
    expect(volume.freeCount).toBe(500);
    volume.write(200, block(1));
    volume.write(5, block(2));
    volume.write(7, block(3));
    expect(volume.cpInProgress).toBeNull();
    spy.writes.length = 0;
    const cp1 = volume.beginCp(1);
    expect(volume.cpInProgress).toBe(cp1);
    // LBAs 5, 7, 200 take VBNs 4, 5, 6; map blocks 0 and 1 take 7 and 8; the root goes into slot 1.
    expect(cp1.updates.map((u) => u.vbn)).toEqual([4, 5, 6, 7, 8, 1]);
    expect(spy.writes).toEqual([[4, 5, 6, 7, 8]]);
    expect(cp1.updates.slice(0, 3).map((u) => hex(u.data))).toEqual([block(2), block(3), block(1)].map(hex));
    const map0 = mapEntries(cp1.updates[3]!.data);
    expect([map0[5], map0[7], map0.filter((v) => v !== 0).length]).toEqual([4, 5, 2]);
    const map1 = mapEntries(cp1.updates[4]!.data);
    expect([map1[200 - 128], map1.filter((v) => v !== 0).length]).toEqual([6, 1]);
    expect(volume.freeCount).toBe(495);
    volume.commit(cp1);
    expect(spy.writes).toEqual([[4, 5, 6, 7, 8], [1]]);
    expect(hex(spy.raid.read(1))).toBe(hex(cp1.updates[5]!.data));
    expect(volume.cpInProgress).toBeNull();
    expect(volume.liveVbns()).toEqual([1, 4, 5, 6, 7, 8]);
    expect(Volume.mount(spy.raid).freeCount).toBe(495);
    // Overwriting LBA 5 takes VBNs 9 (data) and 10 (map block 0); 4 and 7 stay allocated until the commit.
    volume.write(5, block(4));
    const cp2 = volume.beginCp(2);
    expect(cp2.updates.map((u) => u.vbn)).toEqual([9, 10, 0]);
    expect(volume.freeCount).toBe(493);
    volume.commit(cp2);
    expect(volume.freeCount).toBe(495);
    expect(volume.liveVbns()).toEqual([0, 5, 6, 8, 9, 10]);
    // The freed VBNs are the lowest free again: LBA 7 goes to 4, its map block to 7.
    volume.write(7, block(5));
    expect(volume.cp(3).updates.map((u) => u.vbn)).toEqual([4, 7, 1]);
    // The last map block holds LBAs 256..299 only; VBNs 5 and 10 were freed by CP 3.
    volume.write(299, block(6));
    const cp4 = volume.cp(4);
    expect(cp4.updates.map((u) => u.vbn)).toEqual([5, 10, 0]);
    expect(mapEntries(cp4.updates[1]!.data)[299 - 256]).toBe(5);
    const mounted = Volume.mount(spy.raid);
    expect(mounted.liveVbns()).toEqual(volume.liveVbns());
    expect(mounted.freeCount).toBe(volume.freeCount);
    expect([5, 7, 200, 299].map((lba) => hex(mounted.read(lba)))).toEqual(
      [block(4), block(5), block(1), block(6)].map(hex),
    );
    // A CP with nothing dirty writes its root only, at the commit.
    spy.writes.length = 0;
    const empty = volume.beginCp(5);
    expect(spy.writes).toEqual([]);
    volume.commit(empty);
    expect(spy.writes).toEqual([[1]]);
  });

  it('fills the group to its last VBN, then reports a full volume with what is free', () => {
    const tiny = (seed: number): Uint8Array => new Uint8Array(64).fill(seed);
    const raid = group(TINY);
    expect(() => Volume.format(raid, { lbaCount: 12 })).toThrow(/needs 17 VBNs, the RAID group has 16/);
    const volume = Volume.format(raid, { lbaCount: 11 });
    expect(volume.freeCount).toBe(12);
    for (let lba = 0; lba < 11; lba++) volume.write(lba, tiny(lba + 1));
    // 11 data blocks and a map block: exactly the 12 free VBNs.
    volume.cp(1);
    expect(volume.freeCount).toBe(0);
    volume.write(0, tiny(99));
    expect(() => volume.beginCp(2)).toThrow(/^volume full: CP 2 needs 2 free blocks, 0 are free$/);
    expect(() => volume.beginCp(2)).toThrow(VolumeError);
    expect([volume.cpInProgress, volume.dirtyCount, volume.cpNumber]).toEqual([null, 1, 1]);
    volume.pinBaseImages();
    expect(() => volume.beginCp(2)).toThrow(
      'volume full: CP 2 needs 2 free blocks, 0 are free (pinned base images hold blocks until the mirror is resynchronised)',
    );
    expect(hex(Volume.mount(raid).read(10))).toBe(hex(tiny(11)));
  });

  it('commits only the CP in progress, with its root last and in slot n % 2', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    volume.write(1, block(1));
    const cp = volume.beginCp(1);
    expect(() => volume.commit({ ...cp })).toThrow(/commit the CP in progress/);
    // The record is the volume's own (its updates are not to be mutated): a root moved to the wrong slot.
    const updates = cp.updates as VbnBlock[];
    const root = updates.pop()!;
    updates.push({ vbn: 0, data: root.data });
    expect(() => volume.commit(cp)).toThrow(/a CP writes its root into slot n % 2/);
    updates.pop();
    updates.push(root);
    volume.commit(cp);
    expect(() => volume.commit(cp)).toThrow(/commit the CP in progress/);
    expect(Volume.mount(raid).cpNumber).toBe(1);
  });

  it('lists the live blocks sorted, root last, and the blocks changed since the current or a pinned image', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    volume.write(3, block(1));
    volume.cp(1); // LBA 3 at VBN 4, map block at 5
    volume.write(4, block(2));
    volume.cp(2); // LBA 4 at VBN 6, map block at 7; 5 is free again
    const all = volume.allLiveBlocks();
    expect(all.map((b) => b.vbn)).toEqual([4, 6, 7, 0]);
    for (const b of all) expect(hex(b.data), `VBN ${b.vbn}`).toBe(hex(raid.read(b.vbn)));
    expect(volume.liveVbns()).toEqual([0, 4, 6, 7]);
    const current = volume.changedBlocksSince(2)!;
    expect(current.map((b) => b.vbn)).toEqual([0]);
    expect(hex(current[0]!.data)).toBe(hex(raid.read(0)));
    expect(volume.changedBlocksSince(1)).toBeNull();
    volume.pinBaseImages(); // [2, 1]
    volume.write(3, block(3));
    volume.cp(3); // LBA 3 at VBN 8, map block at 9: VBN 5 is CP 1's map block, pinned
    expect(volume.changedBlocksSince(1)!.map((b) => b.vbn)).toEqual([6, 8, 9, 1]);
    expect(volume.changedBlocksSince(2)!.map((b) => b.vbn)).toEqual([8, 9, 1]);
    expect(volume.changedBlocksSince(3)!.map((b) => b.vbn)).toEqual([1]);
    expect(volume.changedBlocksSince(0)).toBeNull();
    expect(volume.readVbn(8)).toEqual(block(3));
  });
});

describe('Volume over a group past its tolerance', () => {
  it('a CP whose batch RAID refuses begins nothing: the dirty blocks stay readable, their VBNs free', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    volume.write(1, block(1));
    volume.cp(1); // VBNs 4 and 5
    volume.write(1, block(2));
    volume.write(2, block(3));
    raid.disks[0]!.fail();
    raid.disks[1]!.fail();
    expect(() => volume.beginCp(2)).toThrow(RaidFailure);
    expect([volume.cpInProgress, volume.dirtyCount, volume.freeCount, volume.cpNumber]).toEqual([
      null,
      2,
      498,
      1,
    ]);
    expect([1, 2].map((lba) => hex(volume.read(lba)))).toEqual([block(2), block(3)].map(hex));
    // Refused again, with the same blocks: nothing leaked from the first attempt.
    expect(() => volume.beginCp(2)).toThrow(RaidFailure);
    expect([volume.dirtyCount, volume.freeCount]).toEqual([2, 498]);
  });
});

describe('Volume pins on disk', () => {
  it('pinBaseImages writes slot 3 then slot 2, once; unpinBaseImages clears slot 2 then slot 3, once', () => {
    const spy = recorded(group(RAID4));
    const volume = Volume.format(spy.raid, { lbaCount: 10 });
    spy.writes.length = 0;
    // CP 0 has no previous image: slot 3 stays blank.
    volume.pinBaseImages();
    expect(spy.writes).toEqual([[3], [2]]);
    expect(volume.pinnedCps).toEqual([0]);
    expect(hex(spy.raid.read(2))).toBe(hex(spy.raid.read(0)));
    expect(hex(spy.raid.read(3))).toBe(hex(ZERO));
    expect(Volume.mount(spy.raid).pinnedCps).toEqual([0]);
    volume.pinBaseImages();
    expect(spy.writes).toHaveLength(2);
    volume.unpinBaseImages();
    expect(spy.writes.slice(2)).toEqual([[2], [3]]);
    volume.unpinBaseImages();
    expect(spy.writes).toHaveLength(4);
    expect(Volume.mount(spy.raid).pinnedCps).toEqual([]);
    // CP 1 and CP 2 (one data and one map block each): both pinned, slot 3 holding CP 1's root.
    for (let cp = 1; cp <= 2; cp++) {
      volume.write(1, block(cp));
      volume.cp(cp);
    }
    const freeBefore = volume.freeCount;
    volume.pinBaseImages();
    expect(volume.pinnedCps).toEqual([2, 1]);
    expect(hex(spy.raid.read(3))).toBe(hex(spy.raid.read(1)));
    expect(hex(spy.raid.read(2))).toBe(hex(spy.raid.read(0)));
    expect(volume.freeCount).toBe(freeBefore - 2);
    expect(Volume.mount(spy.raid).freeCount).toBe(freeBefore - 2);
    // Pinned blocks are not reused: CP 3 takes fresh VBNs; unpinned, CP 1's blocks are free again.
    volume.write(1, block(3));
    expect(volume.cp(3).updates.map((u) => u.vbn)).toEqual([8, 9, 1]);
    volume.unpinBaseImages();
    expect(volume.freeCount).toBe(freeBefore);
    for (const vbn of [2, 3]) expect(hex(spy.raid.read(vbn))).toBe(hex(ZERO));
    volume.write(1, block(4));
    expect(volume.cp(4).updates.map((u) => u.vbn)).toEqual([4, 5, 0]);
  });

  it('pins the previous image only when the other root slot holds CP n - 1', () => {
    const build = (): { raid: RaidGroup; volume: Volume; cp1: Uint8Array } => {
      const raid = group(RAID4);
      const volume = Volume.format(raid, { lbaCount: 10 });
      let cp1: Uint8Array = ZERO;
      for (let cp = 1; cp <= 4; cp++) {
        volume.write(1, block(cp));
        volume.cp(cp);
        if (cp === 1) cp1 = raid.read(1);
      }
      return { raid, volume, cp1 };
    };
    const plain = build();
    plain.volume.pinBaseImages();
    expect(plain.volume.pinnedCps).toEqual([4, 3]);
    // Slot 1 holds CP 1's root again (CP 3's is gone): not the previous image.
    const older = build();
    older.raid.write([{ vbn: 1, data: older.cp1 }]);
    older.volume.pinBaseImages();
    expect(older.volume.pinnedCps).toEqual([4]);
    const blank = build();
    blank.raid.write([{ vbn: 1, data: ZERO }]);
    blank.volume.pinBaseImages();
    expect(blank.volume.pinnedCps).toEqual([4]);
    expect(Volume.mount(blank.raid).pinnedCps).toEqual([4]);
    // At an odd CP the previous image is in slot 0.
    const odd = build();
    odd.volume.write(2, block(5));
    odd.volume.cp(5);
    odd.volume.pinBaseImages();
    expect(odd.volume.pinnedCps).toEqual([5, 4]);
  });

  it("pinTransferImages writes only the slots that change, and frees a dropped image's blocks", () => {
    const spy = recorded(group(RAID4));
    const volume = Volume.format(spy.raid, { lbaCount: 10 });
    // Each CP rewrites LBA 1: every image has one data block and one map block of its own.
    const next = (cp: number): number[] => {
      volume.write(1, block(cp));
      return volume.cp(cp).updates.map((u) => u.vbn);
    };
    next(1); // 4, 5
    next(2); // 6, 7
    volume.pinBaseImages(); // [2, 1]
    expect(volume.freeCount).toBe(496);
    expect(next(3)).toEqual([8, 9, 1]);
    expect(next(4)).toEqual([10, 11, 0]);
    expect(volume.freeCount).toBe(494); // images 4, 2 and 1
    expect(() => volume.pinTransferImages(3)).toThrow(
      /a transfer's base \(CP 3\) is the current image or a pinned one/,
    );
    // The base, CP 1, is in slot 3 already: slot 2 names CP 4, and CP 2's blocks are free.
    spy.writes.length = 0;
    volume.pinTransferImages(1);
    expect(spy.writes).toEqual([[2]]);
    expect(hex(spy.raid.read(2))).toBe(hex(spy.raid.read(0)));
    expect(volume.pinnedCps).toEqual([4, 1]);
    expect(volume.freeCount).toBe(496);
    expect([Volume.mount(spy.raid).pinnedCps, Volume.mount(spy.raid).freeCount]).toEqual([[4, 1], 496]);
    expect(next(5)).toEqual([6, 7, 1]);
    // The base is the current image: it alone is pinned, in both slots.
    spy.writes.length = 0;
    volume.pinTransferImages(5);
    expect(spy.writes).toEqual([[3], [2]]);
    expect(hex(spy.raid.read(3))).toBe(hex(spy.raid.read(1)));
    expect(volume.pinnedCps).toEqual([5]);
    expect(volume.freeCount).toBe(498);
    expect([Volume.mount(spy.raid).pinnedCps, Volume.mount(spy.raid).freeCount]).toEqual([[5], 498]);
    // Again, with the current image alone pinned already: the same two writes, the same single pin.
    spy.writes.length = 0;
    volume.pinTransferImages(5);
    expect(spy.writes).toEqual([[3], [2]]);
    expect(volume.pinnedCps).toEqual([5]);
    // The base, CP 5, is in slot 2: slot 3 names the current image, CP 6.
    expect(next(6)).toEqual([4, 5, 0]);
    spy.writes.length = 0;
    volume.pinTransferImages(5);
    expect(spy.writes).toEqual([[3]]);
    expect(hex(spy.raid.read(3))).toBe(hex(spy.raid.read(0)));
    expect(volume.pinnedCps).toEqual([6, 5]);
    expect(volume.freeCount).toBe(496);
    expect(Volume.mount(spy.raid).pinnedCps).toEqual([6, 5]);
    const cp = volume.beginCp(7);
    expect(() => volume.pinTransferImages(6)).toThrow(/pin between CPs/);
    expect(() => volume.pinBaseImages()).toThrow(/pin between CPs/);
    volume.commit(cp);
  });

  it('reads the snapshot slots: what a torn, blank, foreign or unreadable slot 2 pins', () => {
    // CP 2 and CP 3, each with a data and a map block of its own; nothing pinned.
    const build = (): { raid: RaidGroup; roots: Uint8Array[] } => {
      const raid = group(RAID4);
      const volume = Volume.format(raid, { lbaCount: 10 });
      const roots = [raid.read(0)];
      for (let cp = 1; cp <= 3; cp++) {
        volume.write(1, block(cp));
        volume.cp(cp);
        roots.push(raid.read(cp % 2));
      }
      return { raid, roots };
    };
    const pinsWith = (
      slot2: (roots: Uint8Array[]) => Uint8Array,
      slot3: (roots: Uint8Array[]) => Uint8Array,
    ) => {
      const { raid, roots } = build();
      raid.write([
        { vbn: 2, data: slot2(roots) },
        { vbn: 3, data: slot3(roots) },
      ]);
      return Volume.mount(raid).pinnedCps;
    };
    const zero = () => ZERO;
    // A cut tears a write: the first half of a root lands over a blank slot.
    const torn = (roots: Uint8Array[]) => new Uint8Array(roots[3]!).fill(0, BLOCK_BYTES / 2);
    const cp = (n: number) => (roots: Uint8Array[]) => roots[n]!;
    const future = (roots: Uint8Array[]) => resealed(roots[3]!, { 8: 5 });
    const foreign = (roots: Uint8Array[]) => resealed(roots[3]!, { 24: 300, 28: 3 });
    expect(pinsWith(zero, zero)).toEqual([]);
    expect(pinsWith(zero, cp(2))).toEqual([]);
    // Valid: slot 2 and slot 3 when it is another usable image.
    expect(pinsWith(cp(3), cp(2))).toEqual([3, 2]);
    expect(pinsWith(cp(2), cp(3))).toEqual([3, 2]);
    expect(pinsWith(cp(1), zero)).toEqual([1]);
    expect(pinsWith(cp(3), cp(3))).toEqual([3]);
    expect(pinsWith(cp(3), future)).toEqual([3]);
    expect(pinsWith(cp(3), foreign)).toEqual([3]);
    // A root slot 2 cannot use (newer than the mounted image, another volume's shape): no pins.
    expect(pinsWith(future, cp(2))).toEqual([]);
    expect(pinsWith(foreign, cp(2))).toEqual([]);
    // Torn: the mounted image, and slot 3's image if it is usable and another one.
    expect(pinsWith(torn, zero)).toEqual([3]);
    expect(pinsWith(torn, cp(1))).toEqual([3, 1]);
    expect(pinsWith(torn, cp(3))).toEqual([3]);
    expect(pinsWith(torn, future)).toEqual([3]);
    expect(pinsWith(torn, foreign)).toEqual([3]);
    // Unreadable (two latent errors in slot 2's row of a RAID-4 stripe): a cut in a pin write too.
    const { raid, roots } = build();
    raid.write([
      { vbn: 2, data: roots[3]! },
      { vbn: 3, data: roots[2]! },
    ]);
    raid.disks[1]!.plantLatentError(0); // VBN 2
    raid.disks[3]!.plantLatentError(0); // VBN 6, in the same row
    expect(() => raid.read(2)).toThrow(RaidFailure);
    expect(Volume.mount(raid).pinnedCps).toEqual([3, 2]);
  });

  it('pinBaseImages after a torn slot 2 rewrites it, naming the mounted image', () => {
    const { raid, writes } = recorded(group(RAID4));
    const volume = Volume.format(raid, { lbaCount: 10 });
    for (let cp = 1; cp <= 3; cp++) {
      volume.write(1, block(cp));
      volume.cp(cp);
    }
    raid.write([
      { vbn: 2, data: new Uint8Array(raid.read(1)).fill(0, BLOCK_BYTES / 2) },
      { vbn: 3, data: raid.read(0) },
    ]);
    const mounted = Volume.mount(raid);
    expect(mounted.pinnedCps).toEqual([3, 2]);
    writes.length = 0;
    mounted.pinBaseImages();
    expect(writes).toEqual([[2]]);
    expect(hex(raid.read(2))).toBe(hex(raid.read(1)));
    mounted.pinBaseImages();
    expect(writes).toHaveLength(1);
    expect(Volume.mount(raid).pinnedCps).toEqual([3, 2]);
    // Torn with slot 3 blank: the mounted image alone, and slot 2 names it once pinned.
    raid.write([
      { vbn: 2, data: new Uint8Array(raid.read(1)).fill(0, BLOCK_BYTES / 2) },
      { vbn: 3, data: ZERO },
    ]);
    const alone = Volume.mount(raid);
    writes.length = 0;
    alone.pinBaseImages();
    expect(writes).toEqual([[2]]);
    expect(Volume.mount(raid).pinnedCps).toEqual([3]);
  });

  it('a pinned image is read leniently: bad entries are skipped, an unreadable map pins nothing', () => {
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    volume.write(1, block(1));
    volume.cp(1); // LBA 1 at VBN 4, the map block at 5
    const live = volume.freeCount;
    // Slot 2: CP 1's root with its map block at VBN 100, whose entries are a reserved slot, the first VBN
    // beyond the group, VBN 120, and (past the 10 LBAs) VBN 121: only 100 and 120 are pinned. Slot 3:
    // CP 0's root with its map block beyond the group: an image of no blocks.
    raid.write([
      { vbn: 100, data: mapBlock({ 0: 2, 1: 504, 2: 120, 20: 121 }) },
      { vbn: 2, data: resealed(raid.read(1), { 40: 100 }) },
      { vbn: 3, data: resealed(raid.read(0), { 40: 504 }) },
    ]);
    const mounted = Volume.mount(raid);
    expect(mounted.pinnedCps).toEqual([1, 0]);
    expect(mounted.changedBlocksSince(0)!.map((b) => b.vbn)).toEqual([4, 5, 1]);
    expect(mounted.freeCount).toBe(live - 2);
    mounted.unpinBaseImages();
    expect(mounted.freeCount).toBe(live);
    // A pinned image whose map block cannot be read (two latent errors in its RAID-4 row) pins nothing.
    raid.write([
      { vbn: 96, data: block(9) },
      { vbn: 100, data: mapBlock({ 2: 120 }) },
      { vbn: 2, data: resealed(raid.read(1), { 40: 100 }) },
      { vbn: 3, data: ZERO },
    ]);
    raid.disks[0]!.plantLatentError(24); // VBN 96
    raid.disks[2]!.plantLatentError(24); // VBN 100
    expect(() => raid.read(100)).toThrow(RaidFailure);
    const unreadable = Volume.mount(raid);
    expect([unreadable.pinnedCps, unreadable.freeCount]).toEqual([[], live]);
  });

  it('a fault other than a RAID failure while reading a slot or a pinned map propagates', () => {
    // Slot 2 holds a torn root (read twice: as a root, then to tell torn from blank) or a root whose
    // map block is at VBN 100; the n-th read of `vbn` loses power.
    const cases: [string, number, number][] = [
      ['root slot 1', 1, 1],
      ['torn slot 2, read as a root', 2, 1],
      ['torn slot 2, read for blank', 2, 2],
      ['a pinned map block', 100, 1],
    ];
    for (const [what, vbn, nth] of cases) {
      const raid = group(RAID4);
      const volume = Volume.format(raid, { lbaCount: 10 });
      volume.write(1, block(1));
      volume.cp(1);
      const slot2 =
        vbn === 100
          ? resealed(raid.read(1), { 40: 100 })
          : new Uint8Array(raid.read(1)).fill(0, BLOCK_BYTES / 2);
      raid.write([
        { vbn: 100, data: mapBlock({}) },
        { vbn: 2, data: slot2 },
      ]);
      expect(Volume.mount(raid).pinnedCps, what).toEqual([1]);
      let reads = 0;
      const faulty = spied(raid, {
        read: (at) => {
          if (at === vbn && ++reads === nth) throw new PowerLoss(0);
        },
      });
      expect(() => Volume.mount(faulty), what).toThrow(PowerLoss);
    }
    // A RAID failure on the second read of a torn slot 2: unreadable counts as not blank, so torn.
    const raid = group(RAID4);
    const volume = Volume.format(raid, { lbaCount: 10 });
    volume.write(1, block(1));
    volume.cp(1);
    raid.write([{ vbn: 2, data: new Uint8Array(raid.read(1)).fill(0, BLOCK_BYTES / 2) }]);
    let reads = 0;
    const failing = spied(raid, {
      read: (at) => {
        if (at === 2 && ++reads === 2) throw new RaidFailure('slot 2 lost');
      },
    });
    expect(Volume.mount(failing).pinnedCps).toEqual([1]);
  });

  it('the unsafe canary still keeps pinned blocks from reuse', () => {
    const volume = Volume.format(group(RAID4), { lbaCount: 10, unsafeReuseFreedBeforeCommit: true });
    volume.write(1, block(1));
    volume.cp(1); // 4, 5
    volume.pinBaseImages(); // [1, 0]
    volume.write(1, block(2));
    expect(volume.cp(2).updates.map((u) => u.vbn)).toEqual([6, 7, 0]);
    volume.unpinBaseImages();
    // Unpinned, the canary reuses the blocks it replaces within the CP (CP 1's are free too).
    volume.write(1, block(3));
    expect(volume.cp(3).updates.map((u) => u.vbn)).toEqual([4, 5, 1]);
    volume.write(1, block(4));
    expect(volume.cp(4).updates.map((u) => u.vbn)).toEqual([4, 5, 0]);
  });
});

describe('applyVbnUpdates', () => {
  it('checks every update before writing any, and writes the root last, alone', () => {
    const { raid, writes } = recorded(group(RAID4));
    const source = Volume.format(group(RAID_DP), { lbaCount: 10 });
    const [root] = source.allLiveBlocks();
    const data = block(1);
    expect(() => applyVbnUpdates(raid, [])).toThrow(/the last VBN update is a root slot/);
    expect(() => applyVbnUpdates(raid, [{ vbn: 2, data }])).toThrow(/the last VBN update is a root slot/);
    expect(() => applyVbnUpdates(raid, [{ vbn: 3, data }, root!])).toThrow(
      /only the last VBN update is a reserved slot/,
    );
    expect(() => applyVbnUpdates(raid, [{ vbn: 4, data: new Uint8Array(64) }, root!])).toThrow(
      'VBN update of 64-byte blocks cannot go to a RAID group of 512-byte blocks',
    );
    expect(() => applyVbnUpdates(raid, [{ vbn: 0, data: new Uint8Array(64) }])).toThrow(ConfigError);
    expect(() => applyVbnUpdates(raid, [{ vbn: 504, data }, root!])).toThrow(
      "VBN update 504 lies beyond the destination's 504 VBNs",
    );
    expect(() => applyVbnUpdates(raid, [{ vbn: 504, data }, root!])).toThrow(VolumeError);
    expect(writes).toEqual([]);
    applyVbnUpdates(raid, [root!]);
    expect(writes).toEqual([[0]]);
    applyVbnUpdates(raid, [{ vbn: 4, data }, { vbn: 503, data }, root!]);
    expect(writes).toEqual([[0], [4, 503], [0]]);
    expect(Volume.mount(raid).cpNumber).toBe(0);
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
  // All of them in one call: the same blocks, in the order asked.
  const live = primary.liveVbns().reverse();
  expect(mirror.readVbns(live).map(hex)).toEqual(live.map((vbn) => hex(primary.readVbn(vbn))));
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
