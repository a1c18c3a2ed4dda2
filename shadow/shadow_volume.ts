// A shadow-paging volume on one RAID group: each image is a root + LBA->VBN table in one of four slots, data elsewhere.
// Fault model: power cut after any media write, so a new image never touches a kept image's blocks; root written last.

import type { RaidGeometry } from '../harness/media/geometry.ts';
import { RaidFailure, VolumeError } from '../impl/errors.ts';
import { createRaidGroup, type RaidGroup, type VbnBlock } from '../impl/raid.ts';
import { crc32, getU32, setU32 } from './shadow_checksum.ts';
import { touchEveryDisk } from './shadow_disks.ts';

const ROOT_MAGIC = 0x53485257; // 'SHRW'
/** Four slots: the committed image, up to two images the mirror may hold, and the one being written. */
export const SLOTS = 4;
/**
 * At most this many pinned images are listed in a root: the images the mirror may hold when the root was
 * written, the root's own image among them when its CP is being shipped (and at format: CP 0).
 */
const MAX_PINNED = 3;
/** Table entry 0 means "never written" (VBN 0 is slot 0's root, never a data block). */
const UNMAPPED = 0;

export interface Layout {
  readonly blockBytes: number;
  readonly lbaCount: number;
  readonly tableBlocks: number;
  readonly slotBlocks: number;
  readonly dataStart: number;
  /** VBNs usable on both sides: the smaller of the primary's and the mirror's groups. */
  readonly vbnLimit: number;
}

/** Both sides compute the same layout from the spec, so VBNs mean the same thing on each. */
export function layoutFor(
  lbaCount: number,
  blockBytes: number,
  primary: RaidGeometry,
  mirror: RaidGeometry,
): Layout {
  const tableBlocks = Math.ceil((lbaCount * 4) / blockBytes);
  const slotBlocks = 1 + tableBlocks;
  const vbnLimit = Math.min(createRaidGroup(primary).vbnCount, createRaidGroup(mirror).vbnCount);
  const dataStart = SLOTS * slotBlocks;
  if (vbnLimit - dataStart < 4 * lbaCount)
    throw new VolumeError(
      `shadow volume: ${vbnLimit} VBNs cannot hold ${SLOTS} slots and four images of ${lbaCount} blocks`,
    );
  return { blockBytes, lbaCount, tableBlocks, slotBlocks, dataStart, vbnLimit };
}

export interface Pin {
  readonly slot: number;
  readonly cp: number;
}

export interface Image {
  readonly cp: number;
  readonly slot: number;
  /** The image holds every NVLOG / log-file entry up to this sequence number. */
  readonly coveredSeq: number;
  readonly promoted: boolean;
  /** Images (other than this one) the mirror may hold when this root was written. */
  readonly pinned: readonly Pin[];
  readonly table: Uint32Array;
}

export class ShadowVolume {
  readonly group: RaidGroup;
  readonly layout: Layout;
  /** The root write in progress: after a power cut, whether it landed decides the committed CP. */
  private rootInFlight: Image | null = null;

  constructor(group: RaidGroup, layout: Layout) {
    this.group = group;
    this.layout = layout;
  }

  /**
   * CP 0: an empty image in slot 0, the same bytes on the primary and on the mirror. Its root pins
   * itself, because the mirror holds CP 0 from format on: a source that restarts before its first CP
   * sync is confirmed must still know that, or it would drop CP 0 at its next CP, find the mirror's CP
   * unknown and ship a full image into a slot it thinks free, which on the mirror is slot 0, the only
   * valid root there, overwritten (table first) before the new root is durable. A power cut in between
   * left the mirror with no valid root in any slot.
   */
  format(): Image {
    touchEveryDisk(this.group);
    const image: Image = {
      cp: 0,
      slot: 0,
      coveredSeq: 0,
      promoted: false,
      pinned: [{ slot: 0, cp: 0 }],
      table: new Uint32Array(this.layout.lbaCount),
    };
    this.writeSlot(image);
    return image;
  }

  /** The valid image in the highest-numbered root: the last committed one. */
  mount(): Image {
    let best: Image | null = null;
    for (let s = 0; s < SLOTS; s++) {
      const image = this.readSlot(s);
      if (image && (!best || image.cp > best.cp)) best = image;
    }
    if (!best) throw new VolumeError('shadow volume: no valid root in any slot');
    return best;
  }

  /** The image whose root is in `slot`, or null when the root or its table fails its checksum. */
  readSlot(slot: number): Image | null {
    const L = this.layout;
    try {
      const root = this.group.read(slot * L.slotBlocks);
      if (getU32(root, 0) !== ROOT_MAGIC) return null;
      const body = root.subarray(0, 60);
      if (crc32(body) !== getU32(root, 60)) return null;
      const cp = getU32(root, 4);
      const coveredSeq = getU32(root, 8);
      if (getU32(root, 12) !== slot) return null;
      const promoted = getU32(root, 16) === 1;
      const tableSum = getU32(root, 20);
      const pinCount = getU32(root, 24);
      if (pinCount > MAX_PINNED) return null;
      const pinned: Pin[] = [];
      for (let i = 0; i < pinCount; i++)
        pinned.push({ slot: getU32(root, 28 + 8 * i), cp: getU32(root, 32 + 8 * i) });
      const bytes = new Uint8Array(L.tableBlocks * L.blockBytes);
      for (let t = 0; t < L.tableBlocks; t++)
        bytes.set(this.group.read(slot * L.slotBlocks + 1 + t), t * L.blockBytes);
      if (crc32(bytes) !== tableSum) return null;
      const table = new Uint32Array(L.lbaCount);
      for (let lba = 0; lba < L.lbaCount; lba++) table[lba] = getU32(bytes, lba * 4);
      return { cp, slot, coveredSeq, promoted, pinned, table };
    } catch (e) {
      // A torn block the RAID layer sealed reads as an error: that root was never committed.
      if (e instanceof RaidFailure) return null;
      throw e;
    }
  }

  /** The table and root blocks of `image`, root last: what a slot holds, on either side. */
  slotBlocks(image: Image): VbnBlock[] {
    const L = this.layout;
    const bytes = new Uint8Array(L.tableBlocks * L.blockBytes);
    for (let lba = 0; lba < L.lbaCount; lba++) setU32(bytes, lba * 4, image.table[lba]!);
    const base = image.slot * L.slotBlocks;
    const out: VbnBlock[] = [];
    for (let t = 0; t < L.tableBlocks; t++)
      out.push({ vbn: base + 1 + t, data: bytes.slice(t * L.blockBytes, (t + 1) * L.blockBytes) });
    const root = new Uint8Array(L.blockBytes);
    setU32(root, 0, ROOT_MAGIC);
    setU32(root, 4, image.cp);
    setU32(root, 8, image.coveredSeq);
    setU32(root, 12, image.slot);
    setU32(root, 16, image.promoted ? 1 : 0);
    setU32(root, 20, crc32(bytes));
    setU32(root, 24, image.pinned.length);
    image.pinned.forEach((p, i) => {
      setU32(root, 28 + 8 * i, p.slot);
      setU32(root, 32 + 8 * i, p.cp);
    });
    setU32(root, 60, crc32(root.subarray(0, 60)));
    out.push({ vbn: base, data: root });
    return out;
  }

  /** Writes data blocks, then the slot's table, then its root: the root's landing is the commit. */
  writeImage(image: Image, data: readonly VbnBlock[]): VbnBlock[] {
    if (image.pinned.length > MAX_PINNED) throw new VolumeError('shadow volume: too many pinned images');
    if (data.length > 0) this.group.write(data);
    return [...data, ...this.writeSlot(image)];
  }

  /** Applies shipped blocks: everything but the root first, the root (the last block) alone, last. */
  applyBlocks(blocks: readonly VbnBlock[], rootVbn: number, cp: number): void {
    const rest = blocks.filter((b) => b.vbn !== rootVbn);
    const root = blocks.filter((b) => b.vbn === rootVbn);
    if (rest.length > 0) this.group.write(rest);
    this.rootInFlight = {
      cp,
      slot: rootVbn / this.layout.slotBlocks,
      coveredSeq: 0,
      promoted: false,
      pinned: [],
      table: new Uint32Array(0),
    };
    this.group.write(root);
    this.rootInFlight = null;
  }

  private writeSlot(image: Image): VbnBlock[] {
    const blocks = this.slotBlocks(image);
    const root = blocks[blocks.length - 1]!;
    this.group.write(blocks.slice(0, -1));
    this.rootInFlight = image;
    this.group.write([root]);
    this.rootInFlight = null;
    return blocks;
  }

  /**
   * After a power cut that interrupted a root write: the CP of that root if it landed whole (it is then
   * committed, and what the console last showed), else null. Never writes (the power is off).
   */
  landedRootCp(): number | null {
    const pending = this.rootInFlight;
    if (!pending) return null;
    try {
      const image = this.readSlot(pending.slot);
      return image && image.cp === pending.cp ? image.cp : null;
    } catch {
      return null;
    }
  }

  readLba(image: Image, lba: number): Uint8Array {
    if (!Number.isInteger(lba) || lba < 0 || lba >= this.layout.lbaCount)
      throw new RangeError(`lba ${lba} outside the volume (0..${this.layout.lbaCount - 1})`);
    const vbn = image.table[lba]!;
    return vbn === UNMAPPED ? new Uint8Array(this.layout.blockBytes) : this.group.read(vbn);
  }

  /**
   * Whether writing `blocks` would change a block `image` uses (its root, its table, a data block it
   * maps) before a new root is durable. A power cut after any media write may leave it landed, torn or
   * not (rule O4), so a volume that did so could lose `image` with nothing newer to mount: no valid root
   * in any slot, or a root whose data is no CP image. A block that holds the same bytes already changes
   * nothing, torn or whole; one that cannot be read counts as changed.
   */
  overwritesImage(image: Image, blocks: readonly VbnBlock[]): boolean {
    const L = this.layout;
    const base = image.slot * L.slotBlocks;
    const data = new Set<number>();
    for (const v of image.table) if (v !== UNMAPPED) data.add(v);
    for (const b of blocks) {
      const inSlot = b.vbn >= base && b.vbn < base + L.slotBlocks;
      if (!inSlot && !data.has(b.vbn)) continue;
      try {
        const old = this.group.read(b.vbn);
        if (old.length !== b.data.length || old.some((x, i) => x !== b.data[i])) return true;
      } catch (e) {
        if (e instanceof RaidFailure) return true;
        throw e;
      }
    }
    return false;
  }

  liveVbns(image: Image): number[] {
    const out = new Set<number>();
    const base = image.slot * this.layout.slotBlocks;
    for (let i = 0; i < this.layout.slotBlocks; i++) out.add(base + i);
    for (const v of image.table) if (v !== UNMAPPED) out.add(v);
    return [...out].sort((a, b) => a - b);
  }

  /** A slot no kept image uses, nor any of `also` (slots known to hold a root kept elsewhere). */
  freeSlot(kept: readonly Image[], also: readonly number[] = []): number {
    for (let s = 0; s < SLOTS; s++) if (!kept.some((i) => i.slot === s) && !also.includes(s)) return s;
    throw new VolumeError('shadow volume: no free slot');
  }

  /** `count` data VBNs that no kept image uses: a new image never overwrites what a crash may fall back to. */
  allocate(kept: readonly Image[], count: number): number[] {
    const used = new Set<number>();
    for (const image of kept) for (const v of image.table) if (v !== UNMAPPED) used.add(v);
    const out: number[] = [];
    for (let v = this.layout.dataStart; v < this.layout.vbnLimit && out.length < count; v++)
      if (!used.has(v)) out.push(v);
    if (out.length < count) throw new VolumeError(`shadow volume: out of space (${count} blocks wanted)`);
    return out;
  }

  /**
   * Writes a new image holding `writes` on top of `base`: data at fresh VBNs, then table, then root.
   * Returns the image and every block written, root last.
   */
  commitWrites(
    base: Image,
    writes: ReadonlyMap<number, Uint8Array>,
    meta: { cp: number; slot: number; coveredSeq: number; promoted: boolean; pinned: readonly Pin[] },
    kept: readonly Image[],
  ): { image: Image; blocks: VbnBlock[] } {
    const lbas = [...writes.keys()].sort((a, b) => a - b);
    const vbns = this.allocate(kept, lbas.length);
    const table = new Uint32Array(base.table);
    const data: VbnBlock[] = lbas.map((lba, i) => {
      table[lba] = vbns[i]!;
      return { vbn: vbns[i]!, data: writes.get(lba)! };
    });
    const image: Image = { ...meta, table };
    return { image, blocks: this.writeImage(image, data) };
  }
}
