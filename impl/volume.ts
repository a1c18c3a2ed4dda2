// The write-anywhere volume: LBAs mapped to VBNs of a RaidGroup, changed only by CPs that never overwrite
// the committed image. Fault model: a cut between media writes (last one torn) leaves that image intact.
//
// On-disk layout (all integers u32 little-endian):
// - VBNs 0 and 1 are the two root slots; CP n writes its root into slot n % 2, after every other
//   block of the CP, so the committed root (the other slot) is never overwritten. A root holds:
//     0 magic ROOT_MAGIC   4 version   8 cpNumber (low)   12 cpNumber (high)   16 coveredSeq (low)
//     20 coveredSeq (high)   24 lbaCount   28 mapBlockCount   32 blockBytes   36 zero
//     40 .. the VBN of each map block (0: a hole, every entry of that map block is 0)
//     blockBytes - 4: checksum over bytes 0 .. blockBytes - 4.
//   Mount takes the newest slot whose magic, checksum and fields are right; a torn root fails them.
// - VBNs 2 and 3 are the snapshot slots: copies of the roots of the pinned base images (below), or
//   zeros. Slot 2 holds the current root at pin time and is written last: the pin exists iff slot 2
//   holds a valid root. Slot 3 holds the previous root, or zeros.
// - The block map: LBA -> VBN (0: never written, reads as zeros), in map blocks of blockBytes / 4
//   entries; map block i holds LBAs i * (blockBytes / 4) onwards. One level: the root lists them all.
// - Every other VBN (4 ..) holds data or map blocks of some image, or is free.
// Allocation policy: lowest free VBN first, data blocks in LBA order, then map blocks in index order.
// It keeps a CP's blocks contiguous (so RAID writes whole stripes) and reuses a freed VBN as soon as it
// is allowed to, which makes any premature reuse show at once. VBNs a CP frees (the old data and map
// blocks it replaces) stay allocated until that CP's root is written: they still belong to the
// committed image, which a crash before the commit brings back.
// Base images (docs/reference-protocol.md, incremental resync): while the mirror may hold an older image
// than the current one, pinBaseImages() keeps the current and the previous image's blocks from being
// reused, on disk, so that changedBlocksSince(b) can later send exactly the blocks live now and not in
// image b, all of them free in the mirror's image b.

import { checksum } from '../harness/media/checksum.ts';
import { assert, ConfigError } from '../harness/media/errors.ts';
import { RaidFailure, VolumeError } from './errors.ts';
import type { RaidGroup, VbnBlock } from './raid.ts';

/** VBNs 0 .. 3: two root slots and two snapshot slots, never allocated to data or map blocks. */
export const RESERVED_VBNS = 4;
const SNAPSHOT_CURRENT_SLOT = 2;
const SNAPSHOT_PREVIOUS_SLOT = 3;
const ROOT_MAGIC = 0x43505356; // 'CPSV'
const ROOT_VERSION = 1;
const ROOT_MAP_VBNS_OFFSET = 40;
const TWO_32 = 0x1_0000_0000;

export interface VolumeOptions {
  /**
   * A DELIBERATE BUG for the harness's canary targets, default false: VBNs freed in a CP become
   * allocatable at once, within the same CP, so the CP may overwrite blocks the committed image still
   * uses and a crash before the commit leaves a mixture. A conformance check that passes with it on
   * cannot detect that bug.
   */
  readonly unsafeReuseFreedBeforeCommit?: boolean;
}

export interface FormatOptions extends VolumeOptions {
  readonly lbaCount: number;
}

/** A CP whose blocks are written and whose root is not: what the CP sync phase ships to the mirror. */
export interface CpInProgress {
  readonly cpNumber: number;
  readonly coveredSeq: number;
  /** Every (VBN, block) the CP writes, data and map blocks first, the new root LAST. Do not mutate. */
  readonly updates: readonly VbnBlock[];
}

interface Root {
  readonly cpNumber: number;
  readonly coveredSeq: number;
  readonly lbaCount: number;
  readonly mapVbns: readonly number[];
}

/** A base image kept from reuse: its root and the VBNs of its map and data blocks. */
interface PinnedImage {
  readonly root: Root;
  readonly vbns: ReadonlySet<number>;
}

interface PendingCp {
  readonly record: CpInProgress;
  readonly dirty: ReadonlyMap<number, Uint8Array>;
  readonly map: Uint32Array;
  readonly mapVbns: number[];
  /** VBNs of the committed image this CP replaces: allocatable once the root is written. */
  readonly freed: readonly number[];
}

type SlotRead = Root | 'invalid' | 'unreadable';

export function isRootSlot(vbn: number): boolean {
  return vbn === 0 || vbn === 1;
}

/** How many LBAs a root of `blockBytes`-byte blocks can describe (one level of map blocks). */
export function maxLbaCount(blockBytes: number): number {
  return maxMapBlocks(blockBytes) * (blockBytes / 4);
}

export class Volume {
  readonly lbaCount: number;
  readonly blockBytes: number;
  private root: Root;
  private map: Uint32Array;
  private dirty = new Map<number, Uint8Array>();
  private pending: PendingCp | null = null;
  private pins: PinnedImage[] = [];
  /** Mounted over a torn pin write: the pins held are not yet the ones slot 2 names (pinBaseImages). */
  private pinsTorn = false;
  private readonly allocator: VbnAllocator;
  private readonly unsafeReuse: boolean;

  private constructor(
    private readonly raid: RaidGroup,
    root: Root,
    map: Uint32Array,
    pins: PinnedImage[],
    options: VolumeOptions,
  ) {
    this.lbaCount = root.lbaCount;
    this.blockBytes = raid.blockBytes;
    this.root = root;
    this.map = map;
    this.unsafeReuse = options.unsafeReuseFreedBeforeCommit ?? false;
    this.allocator = new VbnAllocator(raid.vbnCount);
    for (const vbn of root.mapVbns) if (vbn !== 0) this.claimLive(vbn, 'map block');
    for (const vbn of map) if (vbn !== 0) this.claimLive(vbn, 'data block');
    this.pins = pins;
    for (const pin of pins) for (const vbn of pin.vbns) this.allocator.claimShared(vbn);
  }

  /** Writes CP 0 (an empty map: holes only) and returns the mounted volume. */
  static format(raid: RaidGroup, options: FormatOptions): Volume {
    const { lbaCount } = options;
    const blockBytes = raid.blockBytes;
    if (!Number.isInteger(lbaCount) || lbaCount < 1)
      throw new ConfigError(`lbaCount ${lbaCount} must be a positive integer`);
    const mapBlocks = Math.ceil(lbaCount / (blockBytes / 4));
    if (mapBlocks > maxMapBlocks(blockBytes))
      throw new ConfigError(
        `lbaCount ${lbaCount} needs ${mapBlocks} map blocks, but a root of ${blockBytes}-byte blocks lists ` +
          `at most ${maxMapBlocks(blockBytes)}: at most ${maxLbaCount(blockBytes)} LBAs`,
      );
    if (RESERVED_VBNS + mapBlocks + lbaCount > raid.vbnCount)
      throw new ConfigError(
        `lbaCount ${lbaCount} cannot fit: a fully written image needs ${RESERVED_VBNS + mapBlocks + lbaCount} ` +
          `VBNs, the RAID group has ${raid.vbnCount}`,
      );
    const root: Root = { cpNumber: 0, coveredSeq: 0, lbaCount, mapVbns: new Array(mapBlocks).fill(0) };
    // Clear slots 1..3 first: roots or pins left there by an earlier volume would be taken for ours.
    const zeros = new Uint8Array(blockBytes);
    raid.write([1, 2, 3].map((vbn) => ({ vbn, data: zeros })));
    raid.write([{ vbn: 0, data: encodeRoot(root, blockBytes) }]);
    return new Volume(raid, root, new Uint32Array(lbaCount), [], options);
  }

  /**
   * Mounts the newest valid root (a torn root, or with every disk present one the RAID layer cannot
   * read, is skipped), loads the pinned base images, and derives the allocation state from the images.
   * Throws VolumeError if no root is valid, or if a root slot is unreadable while a disk is failed.
   */
  static mount(raid: RaidGroup, options: VolumeOptions = {}): Volume {
    const failed = raid.failedDisks().length;
    if (failed > raid.tolerance)
      throw new VolumeError(
        `the RAID group has ${failed} failed disks, more than the ${raid.tolerance} it tolerates: the volume is offline`,
      );
    // An unreadable root slot is a root torn by a power cut: its CP never committed. The RAID layer
    // keeps a torn block from costing its neighbours their redundancy, so within tolerance a whole
    // root is always readable. Known limit: a fault beyond tolerance in a root's stripe (a latent error
    // plus a failed disk, on RAID-4) could hide the newest root and mount the previous one, since a
    // RaidFailure does not say whether the block was torn or lost.
    const slots = [readRoot(raid, 0, true), readRoot(raid, 1, true)];
    const roots = slots.filter(isRoot);
    if (roots.length === 0)
      throw new VolumeError(
        'no valid root in VBN 0 or 1: the RAID group holds no formatted volume, or both roots are damaged',
      );
    const root = roots.reduce((a, b) => (b.cpNumber > a.cpNumber ? b : a));
    const map = loadMap(raid, root, true);
    const pins = readPins(raid, root, map);
    const volume = new Volume(raid, root, map, pins.images, options);
    volume.pinsTorn = pins.torn;
    return volume;
  }

  /** The last committed CP. */
  get cpNumber(): number {
    return this.root.cpNumber;
  }

  /** What the caller passed to the last committed CP: the highest NVLOG seq it covers. */
  get coveredSeq(): number {
    return this.root.coveredSeq;
  }

  /** LBAs written since the last beginCp (they go into the next CP). */
  get dirtyCount(): number {
    return this.dirty.size;
  }

  /** VBNs allocatable now (blocks freed by a CP in progress, or used by a pinned image, are not). */
  get freeCount(): number {
    return this.allocator.freeCount;
  }

  get cpInProgress(): CpInProgress | null {
    return this.pending?.record ?? null;
  }

  /** CP numbers of the pinned base images, newest first (empty when nothing is pinned). */
  get pinnedCps(): number[] {
    return this.pins.map((p) => p.root.cpNumber).sort((a, b) => b - a);
  }

  /** The latest write: dirty data, then a CP in progress, then the committed image. */
  read(lba: number): Uint8Array {
    this.checkLba(lba);
    const data = this.dirty.get(lba) ?? this.pending?.dirty.get(lba);
    return data !== undefined ? new Uint8Array(data) : this.readCommitted(lba);
  }

  /** The committed image only. */
  readCommitted(lba: number): Uint8Array {
    this.checkLba(lba);
    const vbn = this.map[lba]!;
    return vbn === 0 ? new Uint8Array(this.blockBytes) : this.raid.read(vbn);
  }

  /**
   * `readCommitted` of every LBA in order, in two allocations: the mapped LBAs' blocks are views of
   * one buffer, and every unmapped LBA is the same zero block (the harness only reads what it is
   * given, harness/target.ts), so an image of mostly unwritten LBAs costs a RAID read per mapped LBA.
   */
  readCommittedImage(): Uint8Array[] {
    const bytes = this.blockBytes;
    let mapped = 0;
    for (let lba = 0; lba < this.lbaCount; lba++) if (this.map[lba] !== 0) mapped++;
    const buffer = new ArrayBuffer((mapped + 1) * bytes);
    const zero = new Uint8Array(buffer, mapped * bytes, bytes);
    const image = new Array<Uint8Array>(this.lbaCount);
    let next = 0;
    for (let lba = 0; lba < this.lbaCount; lba++) {
      const vbn = this.map[lba]!;
      if (vbn === 0) {
        image[lba] = zero;
        continue;
      }
      const block = new Uint8Array(buffer, next++ * bytes, bytes);
      this.raid.readInto(vbn, block);
      image[lba] = block;
    }
    return image;
  }

  /** In memory only: the block reaches disk at the next CP. */
  write(lba: number, data: Uint8Array): void {
    this.checkLba(lba);
    if (data.length !== this.blockBytes)
      throw new VolumeError(
        `write to LBA ${lba}: ${data.length} bytes, the volume's blocks are ${this.blockBytes}`,
      );
    this.dirty.set(lba, new Uint8Array(data));
  }

  /**
   * Starts CP cpNumber + 1: freezes the dirty set, allocates new VBNs for its data blocks and for every
   * map block they change, and writes those through the RAID group in one batch. The root is not
   * written: it is the last element of `updates`, written by commit().
   */
  beginCp(coveredSeq: number): CpInProgress {
    assert(this.pending === null, 'one CP in progress at a time');
    if (!Number.isSafeInteger(coveredSeq) || coveredSeq < 0)
      throw new VolumeError(`coveredSeq ${coveredSeq} must be a non-negative integer`);
    const epm = this.blockBytes / 4;
    const lbas = [...this.dirty.keys()].sort((a, b) => a - b);
    const mapIndices = [...new Set(lbas.map((lba) => Math.floor(lba / epm)))];
    const needed = lbas.length + mapIndices.length;
    if (needed > this.allocator.freeCount)
      throw new VolumeError(
        `volume full: CP ${this.cpNumber + 1} needs ${needed} free blocks, ${this.allocator.freeCount} are free` +
          (this.pins.length > 0
            ? ' (pinned base images hold blocks until the mirror is resynchronised)'
            : ''),
      );
    const dirty = this.dirty;
    this.dirty = new Map();
    const map = this.map.slice();
    const mapVbns = [...this.root.mapVbns];
    const freed: number[] = [];
    const replace = (old: number): number => {
      if (old !== 0) {
        if (this.unsafeReuse) this.releaseUnlessPinned(old);
        else freed.push(old);
      }
      return this.allocator.allocate();
    };
    const updates: VbnBlock[] = [];
    for (const lba of lbas) {
      map[lba] = replace(map[lba]!);
      updates.push({ vbn: map[lba]!, data: dirty.get(lba)! });
    }
    for (const index of mapIndices) {
      mapVbns[index] = replace(mapVbns[index]!);
      updates.push({ vbn: mapVbns[index]!, data: encodeMapBlock(map, index, this.blockBytes) });
    }
    try {
      if (updates.length > 0) this.raid.write(updates);
    } catch (e) {
      // RAID refused the batch (the group is past its tolerance): no CP began. The dirty blocks stay
      // the volume's latest contents for reads, and the blocks allocated for them are free again.
      this.dirty = dirty;
      for (const u of updates) this.allocator.release(u.vbn);
      throw e;
    }
    const cpNumber = this.cpNumber + 1;
    const root: Root = { cpNumber, coveredSeq, lbaCount: this.lbaCount, mapVbns };
    updates.push({ vbn: cpNumber % 2, data: encodeRoot(root, this.blockBytes) });
    const record: CpInProgress = { cpNumber, coveredSeq, updates };
    this.pending = { record, dirty, map, mapVbns, freed };
    return record;
  }

  /** Writes the root of the CP in progress (the atomic switch), then frees the blocks it replaced. */
  commit(cp: CpInProgress): void {
    const pending = this.pending;
    assert(pending !== null && pending.record === cp, 'commit the CP in progress');
    const root = cp.updates.at(-1)!;
    assert(isRootSlot(root.vbn) && root.vbn === cp.cpNumber % 2, 'a CP writes its root into slot n % 2');
    this.raid.write([root]);
    this.root = {
      cpNumber: cp.cpNumber,
      coveredSeq: cp.coveredSeq,
      lbaCount: this.lbaCount,
      mapVbns: pending.mapVbns,
    };
    this.map = pending.map;
    for (const vbn of pending.freed) this.releaseUnlessPinned(vbn);
    this.pending = null;
  }

  /** A whole CP: beginCp then commit. Returns what it wrote. */
  cp(coveredSeq: number): CpInProgress {
    const record = this.beginCp(coveredSeq);
    this.commit(record);
    return record;
  }

  /** Sorted VBNs the committed image uses: its root slot, its map blocks, its data blocks. */
  liveVbns(): number[] {
    return [this.cpNumber % 2, ...imageVbns(this.root, this.map)].sort((a, b) => a - b);
  }

  /** The block at `vbn` through RAID, for comparing a primary and its mirror block by block. */
  readVbn(vbn: number): Uint8Array {
    return this.raid.read(vbn);
  }

  /** `readVbn` of each of `vbns`, in order, into views of one buffer. */
  readVbns(vbns: readonly number[]): Uint8Array[] {
    const bytes = this.blockBytes;
    const buffer = new ArrayBuffer(vbns.length * bytes);
    return vbns.map((vbn, i) => {
      const block = new Uint8Array(buffer, i * bytes, bytes);
      this.raid.readInto(vbn, block);
      return block;
    });
  }

  /**
   * Every live block of the committed image, root last: the transfer for a mirror that shares no image
   * with this volume (applyVbnUpdates then mounts it as this image).
   */
  allLiveBlocks(): VbnBlock[] {
    return this.blocksNotIn(new Set());
  }

  /**
   * The blocks live now and not live in image `cpNumber`, root last: applied to a mirror holding that
   * image, they turn it into the current one, and each of them is free in that image. Null when the
   * volume does not know that image (it is neither current nor pinned): send allLiveBlocks() instead.
   */
  changedBlocksSince(cpNumber: number): VbnBlock[] | null {
    if (cpNumber === this.cpNumber) return this.blocksNotIn(new Set(imageVbns(this.root, this.map)));
    const pin = this.pins.find((p) => p.root.cpNumber === cpNumber);
    return pin === undefined ? null : this.blocksNotIn(pin.vbns);
  }

  /**
   * Pins the images a mirror may hold (the current one and the previous one, if its root is still in
   * the other root slot) so that no CP reuses their blocks, until unpinBaseImages(). The pins are on
   * disk (snapshot slots 3 then 2: two RAID writes) and survive a crash. Does nothing when pinned.
   */
  pinBaseImages(): void {
    assert(this.pending === null, 'pin between CPs');
    if (this.pinsTorn) {
      // Mounted over a cut in a pin write: slot 3 holds the second image, if any; slot 2 is rewritten
      // to name the mounted image, so the next mount (after this one's recovery CP) still pins it.
      this.raid.write([
        { vbn: SNAPSHOT_CURRENT_SLOT, data: encodeRoot(this.pins[0]!.root, this.blockBytes) },
      ]);
      this.pinsTorn = false;
    }
    if (this.pins.length > 0) return;
    const current: PinnedImage = { root: this.root, vbns: new Set(imageVbns(this.root, this.map)) };
    const previous = this.readPreviousImage();
    const zeros = new Uint8Array(this.blockBytes);
    // Slot 3 first: a pin exists only once slot 2 is whole, so a cut in between leaves no pin at all.
    this.raid.write([
      { vbn: SNAPSHOT_PREVIOUS_SLOT, data: previous ? encodeRoot(previous.root, this.blockBytes) : zeros },
    ]);
    this.raid.write([{ vbn: SNAPSHOT_CURRENT_SLOT, data: encodeRoot(current.root, this.blockBytes) }]);
    this.pins = previous ? [current, previous] : [current];
    for (const pin of this.pins) for (const vbn of pin.vbns) this.allocator.claimShared(vbn);
  }

  /**
   * Pins exactly the current image and image `baseCp`, which is pinned already or is the current one:
   * the images a mirror may hold once a resync transfer from `baseCp` to the current image is on its
   * way (the mirror may commit it and its confirm be lost). Written so that a cut at any point leaves
   * the base pinned or current: a base in slot 2 stays there and the current image goes into slot 3;
   * otherwise the base goes into slot 3 (unless it is there) before the current image goes into slot 2,
   * and a torn slot 2 reads as slot 3 alone (readPins).
   */
  pinTransferImages(baseCp: number): void {
    assert(this.pending === null, 'pin between CPs');
    const current: PinnedImage = { root: this.root, vbns: new Set(imageVbns(this.root, this.map)) };
    const base = baseCp === this.cpNumber ? current : this.pins.find((p) => p.root.cpNumber === baseCp);
    assert(base !== undefined, `a transfer's base (CP ${baseCp}) is the current image or a pinned one`);
    const old = this.pins;
    if (base !== current && old[0] === base) {
      this.raid.write([{ vbn: SNAPSHOT_PREVIOUS_SLOT, data: encodeRoot(current.root, this.blockBytes) }]);
      this.pins = [base, current];
    } else {
      if (old[1] !== base)
        this.raid.write([{ vbn: SNAPSHOT_PREVIOUS_SLOT, data: encodeRoot(base.root, this.blockBytes) }]);
      this.raid.write([{ vbn: SNAPSHOT_CURRENT_SLOT, data: encodeRoot(current.root, this.blockBytes) }]);
      this.pins = base === current ? [current] : [current, base];
    }
    for (const pin of this.pins) for (const vbn of pin.vbns) this.allocator.claimShared(vbn);
    this.releaseUnused(old);
  }

  /** The mirror holds a current image again: the base images' blocks become reusable (two RAID writes). */
  unpinBaseImages(): void {
    if (this.pins.length === 0) return;
    const zeros = new Uint8Array(this.blockBytes);
    // Slot 2 first: once it is cleared the pin is gone, whatever slot 3 still holds.
    this.raid.write([{ vbn: SNAPSHOT_CURRENT_SLOT, data: zeros }]);
    this.raid.write([{ vbn: SNAPSHOT_PREVIOUS_SLOT, data: zeros }]);
    const old = this.pins;
    this.pins = [];
    this.releaseUnused(old);
  }

  /** Frees the blocks of `pins` that no pin, the committed image or a CP in progress still uses. */
  private releaseUnused(pins: readonly PinnedImage[]): void {
    const inUse = new Set(imageVbns(this.root, this.map));
    for (const update of this.pending?.record.updates ?? []) inUse.add(update.vbn);
    for (const pin of this.pins) for (const vbn of pin.vbns) inUse.add(vbn);
    // A set: pins share blocks, and each block is released once.
    const released = new Set<number>();
    for (const pin of pins) for (const vbn of pin.vbns) if (!inUse.has(vbn)) released.add(vbn);
    for (const vbn of released) this.allocator.release(vbn);
  }

  private blocksNotIn(base: ReadonlySet<number>): VbnBlock[] {
    const blocks = imageVbns(this.root, this.map)
      .filter((vbn) => !base.has(vbn))
      .sort((a, b) => a - b)
      .map((vbn) => ({ vbn, data: this.raid.read(vbn) }));
    blocks.push({ vbn: this.cpNumber % 2, data: encodeRoot(this.root, this.blockBytes) });
    return blocks;
  }

  /** The image of the other root slot if it is CP n - 1 and its map can be read, else null. */
  private readPreviousImage(): PinnedImage | null {
    if (this.cpNumber === 0) return null;
    const slot = (this.cpNumber - 1) % 2 === 0 ? 0 : 1;
    const previous = readRoot(this.raid, slot, true);
    if (!isRoot(previous) || previous.cpNumber !== this.cpNumber - 1) return null;
    return readImage(this.raid, previous);
  }

  private releaseUnlessPinned(vbn: number): void {
    if (!this.pins.some((p) => p.vbns.has(vbn))) this.allocator.release(vbn);
  }

  private claimLive(vbn: number, what: string): void {
    if (vbn < RESERVED_VBNS || vbn >= this.allocator.vbnCount)
      throw new VolumeError(
        `${what} at VBN ${vbn} lies outside this RAID group's VBNs ${RESERVED_VBNS}..${this.allocator.vbnCount - 1}`,
      );
    if (!this.allocator.claim(vbn)) throw new VolumeError(`corrupt image: VBN ${vbn} is used twice`);
  }

  private checkLba(lba: number): void {
    if (!Number.isInteger(lba) || lba < 0 || lba >= this.lbaCount)
      throw new VolumeError(`LBA ${lba} is outside the volume's 0..${this.lbaCount - 1}`);
  }
}

/**
 * The mirror side of the CP sync phase: writes a CP's updates through the destination's own RAID
 * layer, every other block first and the root last, so the destination's committed mirror switches
 * atomically and then mounts (Volume.mount) as the source's image of that CP.
 */
export function applyVbnUpdates(raid: RaidGroup, updates: readonly VbnBlock[]): void {
  const root = updates.at(-1);
  assert(root !== undefined && isRootSlot(root.vbn), 'the last VBN update is a root slot');
  const blocks = updates.slice(0, -1);
  assert(
    blocks.every((b) => b.vbn >= RESERVED_VBNS),
    'only the last VBN update is a reserved slot',
  );
  for (const block of updates) {
    if (block.data.length !== raid.blockBytes)
      throw new ConfigError(
        `VBN update of ${block.data.length}-byte blocks cannot go to a RAID group of ${raid.blockBytes}-byte blocks`,
      );
    if (block.vbn >= raid.vbnCount)
      throw new VolumeError(`VBN update ${block.vbn} lies beyond the destination's ${raid.vbnCount} VBNs`);
  }
  if (blocks.length > 0) raid.write(blocks);
  raid.write([root]);
}

/** Lowest-free-first over VBNs RESERVED_VBNS .. vbnCount - 1. */
class VbnAllocator {
  private readonly used: Uint8Array;
  /** No VBN below it is free. */
  private lowestFree = RESERVED_VBNS;
  freeCount: number;

  constructor(readonly vbnCount: number) {
    this.used = new Uint8Array(vbnCount);
    this.freeCount = Math.max(0, vbnCount - RESERVED_VBNS);
  }

  /** Marks a VBN of the mounted image as used; false if it already was. */
  claim(vbn: number): boolean {
    if (this.used[vbn] === 1) return false;
    this.used[vbn] = 1;
    this.freeCount--;
    return true;
  }

  /** Marks a VBN of a pinned image as used; images share blocks, so it may already be. */
  claimShared(vbn: number): void {
    if (vbn >= RESERVED_VBNS && vbn < this.vbnCount && this.used[vbn] === 0) this.claim(vbn);
  }

  allocate(): number {
    assert(this.freeCount > 0, 'allocate only after checking free space');
    while (this.used[this.lowestFree] === 1) this.lowestFree++;
    const vbn = this.lowestFree;
    this.used[vbn] = 1;
    this.freeCount--;
    return vbn;
  }

  release(vbn: number): void {
    assert(vbn >= RESERVED_VBNS && this.used[vbn] === 1, 'release an allocated VBN');
    this.used[vbn] = 0;
    this.freeCount++;
    if (vbn < this.lowestFree) this.lowestFree = vbn;
  }
}

/** A block of zeros (cleared), as opposed to one a cut tore; unreadable counts as not blank. */
function isBlank(raid: RaidGroup, vbn: number): boolean {
  try {
    return raid.read(vbn).every((b) => b === 0);
  } catch (error) {
    if (error instanceof RaidFailure) return false;
    throw error;
  }
}

function isRoot(slot: SlotRead): slot is Root {
  return typeof slot === 'object';
}

/** The VBNs of an image's map and data blocks (not its root slot), unsorted, without duplicates. */
function imageVbns(root: Root, map: Uint32Array): number[] {
  const vbns: number[] = [];
  for (const vbn of root.mapVbns) if (vbn !== 0) vbns.push(vbn);
  for (const vbn of map) if (vbn !== 0) vbns.push(vbn);
  return vbns;
}

function maxMapBlocks(blockBytes: number): number {
  return Math.floor((blockBytes - ROOT_MAP_VBNS_OFFSET - 4) / 4);
}

function encodeRoot(root: Root, blockBytes: number): Uint8Array {
  const bytes = new Uint8Array(blockBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, ROOT_MAGIC, true);
  view.setUint32(4, ROOT_VERSION, true);
  view.setUint32(8, root.cpNumber >>> 0, true);
  view.setUint32(12, Math.floor(root.cpNumber / TWO_32), true);
  view.setUint32(16, root.coveredSeq >>> 0, true);
  view.setUint32(20, Math.floor(root.coveredSeq / TWO_32), true);
  view.setUint32(24, root.lbaCount, true);
  view.setUint32(28, root.mapVbns.length, true);
  view.setUint32(32, blockBytes, true);
  root.mapVbns.forEach((vbn, i) => {
    view.setUint32(ROOT_MAP_VBNS_OFFSET + 4 * i, vbn, true);
  });
  view.setUint32(blockBytes - 4, checksum(bytes.subarray(0, blockBytes - 4)), true);
  return bytes;
}

/**
 * The root in `slot` if it is whole and consistent; 'invalid' when its bytes are not a root of this
 * group (torn, never written); 'unreadable' when the RAID layer cannot read the block. A root slot
 * must hold CP n in slot n % 2; a snapshot slot holds a copy of a root from either.
 */
function readRoot(raid: RaidGroup, slot: number, rootSlot: boolean): SlotRead {
  let bytes: Uint8Array;
  try {
    bytes = raid.read(slot);
  } catch (error) {
    // Only a RAID failure is a property of the slot; anything else (PowerLoss, a bug) propagates.
    if (error instanceof RaidFailure) return 'unreadable';
    throw error;
  }
  const blockBytes = raid.blockBytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.getUint32(0, true) !== ROOT_MAGIC || view.getUint32(4, true) !== ROOT_VERSION) return 'invalid';
  if (view.getUint32(blockBytes - 4, true) !== checksum(bytes.subarray(0, blockBytes - 4))) return 'invalid';
  const cpNumber = view.getUint32(8, true) + view.getUint32(12, true) * TWO_32;
  const lbaCount = view.getUint32(24, true);
  const mapBlocks = view.getUint32(28, true);
  if (view.getUint32(32, true) !== blockBytes || (rootSlot && cpNumber % 2 !== slot)) return 'invalid';
  if (lbaCount < 1 || mapBlocks !== Math.ceil(lbaCount / (blockBytes / 4))) return 'invalid';
  if (mapBlocks > maxMapBlocks(blockBytes)) return 'invalid';
  const mapVbns: number[] = [];
  for (let i = 0; i < mapBlocks; i++) mapVbns.push(view.getUint32(ROOT_MAP_VBNS_OFFSET + 4 * i, true));
  return {
    cpNumber,
    coveredSeq: view.getUint32(16, true) + view.getUint32(20, true) * TWO_32,
    lbaCount,
    mapVbns,
  };
}

/**
 * The pinned base images the snapshot slots describe, and whether slot 2 was torn. A blank slot 2 is
 * no pin (unpinBaseImages clears it first); a torn or unreadable one is a cut inside a pin write, and
 * then slot 3's image and the mounted one are pinned (pinBaseImages rewrites slot 2 at recovery).
 */
function readPins(
  raid: RaidGroup,
  current: Root,
  currentMap: Uint32Array,
): { images: PinnedImage[]; torn: boolean } {
  const slot2 = readRoot(raid, SNAPSHOT_CURRENT_SLOT, false);
  const usable = (r: SlotRead): r is Root =>
    isRoot(r) && r.lbaCount === current.lbaCount && r.cpNumber <= current.cpNumber;
  if (!usable(slot2)) {
    // Blank: no pins (unpinBaseImages clears slot 2 first).
    if (isRoot(slot2) || (slot2 === 'invalid' && isBlank(raid, SNAPSHOT_CURRENT_SLOT)))
      return { images: [], torn: false };
    // Torn or unreadable: a cut fell in a pin write, after the mounted image committed. Slot 3,
    // written before slot 2, holds a pinned image (pinTransferImages' base, or the previous image of
    // an unfinished pinBaseImages); slot 2 was naming the mounted image, or was being cleared once
    // the mirror confirmed it. Either way the mirror may hold the mounted image: it is pinned too.
    const slot3 = readRoot(raid, SNAPSHOT_PREVIOUS_SLOT, false);
    const alone = usable(slot3) && slot3.cpNumber !== current.cpNumber ? readImage(raid, slot3) : null;
    const mounted: PinnedImage = { root: current, vbns: new Set(imageVbns(current, currentMap)) };
    return { images: alone ? [mounted, alone] : [mounted], torn: true };
  }
  // Slot 3 is written before slot 2 and cleared after it, so with slot 2 valid it belongs to the same
  // pins: the previous image (pinBaseImages), or a transfer's base, older or newer (pinTransferImages).
  const slot3 = readRoot(raid, SNAPSHOT_PREVIOUS_SLOT, false);
  const second = usable(slot3) && slot3.cpNumber !== slot2.cpNumber;
  const images = [slot2, ...(second ? [slot3] : [])];
  return {
    images: images.map((root) => readImage(raid, root)).filter((p): p is PinnedImage => p !== null),
    torn: false,
  };
}

/**
 * A base image's blocks, or null when its map cannot be read. Lenient on purpose: a pin only keeps
 * blocks from reuse, so an entry out of range is skipped rather than failing the mount.
 */
function readImage(raid: RaidGroup, root: Root): PinnedImage | null {
  let map: Uint32Array;
  try {
    map = loadMap(raid, root, false);
  } catch (error) {
    if (error instanceof RaidFailure) return null;
    throw error;
  }
  const vbns = imageVbns(root, map).filter((vbn) => vbn >= RESERVED_VBNS && vbn < raid.vbnCount);
  return { root, vbns: new Set(vbns) };
}

function encodeMapBlock(map: Uint32Array, index: number, blockBytes: number): Uint8Array {
  const epm = blockBytes / 4;
  const bytes = new Uint8Array(blockBytes);
  const view = new DataView(bytes.buffer);
  const end = Math.min(map.length, (index + 1) * epm);
  for (let lba = index * epm; lba < end; lba++) view.setUint32(4 * (lba - index * epm), map[lba]!, true);
  return bytes;
}

/**
 * Reads the root's map blocks; a RAID failure here propagates: the image cannot be read. `strict`
 * rejects a map block beyond the group or an entry past lbaCount (a corrupt image) with VolumeError.
 */
function loadMap(raid: RaidGroup, root: Root, strict: boolean): Uint32Array {
  const epm = raid.blockBytes / 4;
  const map = new Uint32Array(root.lbaCount);
  root.mapVbns.forEach((vbn, index) => {
    if (vbn === 0) return;
    if (vbn < RESERVED_VBNS || vbn >= raid.vbnCount) {
      if (!strict) return;
      throw new VolumeError(`map block at VBN ${vbn} lies outside this RAID group's ${raid.vbnCount} VBNs`);
    }
    const bytes = raid.read(vbn);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let i = 0; i < epm; i++) {
      const lba = index * epm + i;
      const entry = view.getUint32(4 * i, true);
      if (lba < root.lbaCount) map[lba] = entry;
      else if (entry !== 0 && strict)
        throw new VolumeError(`corrupt map block at VBN ${vbn}: an entry past the LBA count`);
    }
  });
  return map;
}
