// The contents of a world's client writes, kept by write id: the data each write carried (fresh, the
// same as an earlier write's, all zeros, or an earlier write's with one byte changed) and, back from a
// block read, the writes whose data it is. Real workloads repeat contents; the checks must not.
//
// A block names a content class: the id of the first write that carried exactly those bytes (0 for the
// all-zero block, which is also what a never-written LBA reads as; -1 for bytes no write carried).
// Checks decide by write id which writes an LBA may reflect, and accept a block when some write of its
// class to that LBA is one of them: identical contents let a wrong write pass only where no check can
// tell them apart, and never raise an alarm where the right write's data was returned.

import { checksum } from './media/checksum.ts';
import { assert } from './media/errors.ts';
import { sameBytes } from './mirror_compare.ts';
import type { NodeId } from './target.ts';
import { identify, writeData } from './write_identity.ts';

/**
 * How a schedule's write picks its data (no pattern: fresh data naming the write, write_identity.ts).
 * `back` counts the source's earlier writes (1: the one just before); with fewer, the base is the
 * all-zero block a never-written LBA holds.
 */
export type DataPattern =
  /** An all-zero block. */
  | { readonly kind: 'zero' }
  /** Exactly the data of the source's `back`-th previous write (another LBA's, or this one's again). */
  | { readonly kind: 'repeat'; readonly back: number }
  /** That write's data with the byte at `byte` (modulo the block) changed. */
  | { readonly kind: 'near'; readonly back: number; readonly byte: number };

/** How a write's contents relate to the writes before it, for fault coverage. */
export type Sharing = 'fresh' | 'zero' | 'near' | 'same-contents-other-lba' | 'same-contents-again';

export class WriteContents {
  /** By write id: its content class, LBA and source. */
  private readonly classOfId: number[] = [];
  private readonly lbaOfId: number[] = [];
  private readonly sharingOfId: Sharing[] = [];
  /** Each source's write ids in issue order (the bases of `back`). */
  private readonly bySource = new Map<NodeId, number[]>();
  /** The writes of each class at each (source, LBA), in issue order. */
  private readonly members = new Map<string, number[]>();
  /** The LBAs each class was written to, per source. */
  private readonly sites = new Map<string, Set<number>>();
  /** Classes that no fresh-data check names (near copies): by checksum, with their bytes. */
  private readonly nearByChecksum = new Map<number, { readonly cls: number; readonly data: Uint8Array }[]>();
  private readonly nearData = new Map<number, Uint8Array>();

  constructor(private readonly blockBytes: number) {}

  /** The data of write `writeId` to (`source`, `lba`), drawn by `pattern`, and remembered. */
  make(writeId: number, source: NodeId, lba: number, pattern?: DataPattern): Uint8Array {
    // Write ids are issued in order, once each: the class of every earlier write is known.
    assert(this.classOfId[writeId] === undefined, 'write contents: each write id is made once');
    const earlier = this.bySource.get(source) ?? [];
    const base = pattern && pattern.kind !== 'zero' ? (earlier[earlier.length - pattern.back] ?? 0) : 0;
    const baseClass = base === 0 ? 0 : this.classOfId[base]!;
    let data: Uint8Array;
    let cls: number;
    if (!pattern) {
      data = writeData(writeId, lba, this.blockBytes);
      cls = writeId;
    } else if (pattern.kind === 'zero' || pattern.kind === 'repeat') {
      cls = pattern.kind === 'zero' ? 0 : baseClass;
      data = this.dataOfClass(cls).slice();
    } else {
      data = this.dataOfClass(baseClass).slice();
      const at = pattern.byte % this.blockBytes;
      data[at] = data[at]! ^ 0x5a;
      const known = this.classOf(data);
      cls = known >= 0 ? known : this.addNear(writeId, data);
    }
    this.classOfId[writeId] = cls;
    this.lbaOfId[writeId] = lba;
    const key = memberKey(source, lba, cls);
    const here = this.members.get(key);
    this.sharingOfId[writeId] = sharing(
      pattern,
      cls,
      writeId,
      here !== undefined,
      this.hasOtherLba(source, lba, cls),
    );
    if (here) here.push(writeId);
    else this.members.set(key, [writeId]);
    const site = this.sites.get(siteKey(source, cls));
    if (site) site.add(lba);
    else this.sites.set(siteKey(source, cls), new Set([lba]));
    earlier.push(writeId);
    this.bySource.set(source, earlier);
    return data;
  }

  /** The content class of `writeId` (0: all zeros); undefined for a write this world never issued. */
  classOfWrite(writeId: number): number | undefined {
    return this.classOfId[writeId];
  }

  sharingOf(writeId: number): Sharing | undefined {
    return this.sharingOfId[writeId];
  }

  /**
   * The content class a block read back is: the first write with exactly these bytes, 0 for all
   * zeros, -1 for bytes no write carried (torn, mixed, corrupted). A fresh block of a write id this
   * world never issued names that id, so that a check can say so.
   */
  classOf(block: Uint8Array): number {
    const id = identify(block);
    if (id.kind === 'zero') return 0;
    if (id.kind === 'write') {
      const cls = this.classOfId[id.writeId];
      if (cls === undefined) return id.writeId;
      // Fresh data of a write that carried other data, or of another LBA: no write carried these bytes.
      return cls === id.writeId && this.lbaOfId[id.writeId] === id.lba ? cls : -1;
    }
    if (this.nearByChecksum.size === 0) return -1;
    for (const n of this.nearByChecksum.get(checksum(block)) ?? [])
      if (sameBytes(n.data, block)) return n.cls;
    return -1;
  }

  /**
   * The latest write to (`source`, `lba`) whose data is class `cls`: the write a block of that class
   * there reflects at best. 0 for the zero block with no zero write there; `cls` itself when no write
   * to that LBA carried it (a block of another LBA's write still names that write).
   */
  latestAt(source: NodeId, lba: number, cls: number): number {
    return this.members.get(memberKey(source, lba, cls))?.at(-1) ?? cls;
  }

  /** Some write to (`source`, `lba`) carried class `cls`, or it is the zero block of a never-written one. */
  holdsAt(source: NodeId, lba: number, cls: number): boolean {
    return cls === 0 || this.members.has(memberKey(source, lba, cls));
  }

  /**
   * A block of class `cls` at (`source`, `lba`) may be more than one write: two writes there carried
   * it, or it is the zero block and a write there carried zeros. Two images that both hold it there
   * may then hold different writes: a target that does not compare contents sees a change.
   */
  mayBeSeveral(source: NodeId, lba: number, cls: number): boolean {
    const here = this.members.get(memberKey(source, lba, cls))?.length ?? 0;
    return here >= 2 || (cls === 0 && here >= 1);
  }

  /** Some write of `source`, to any LBA, carried class `cls`. */
  issuedBy(source: NodeId, cls: number): boolean {
    return this.sites.has(siteKey(source, cls));
  }

  private dataOfClass(cls: number): Uint8Array {
    if (cls === 0) return new Uint8Array(this.blockBytes);
    return this.nearData.get(cls) ?? writeData(cls, this.lbaOfId[cls]!, this.blockBytes);
  }

  private addNear(writeId: number, data: Uint8Array): number {
    const sum = checksum(data);
    const list = this.nearByChecksum.get(sum);
    const entry = { cls: writeId, data };
    if (list) list.push(entry);
    else this.nearByChecksum.set(sum, [entry]);
    this.nearData.set(writeId, data);
    return writeId;
  }

  private hasOtherLba(source: NodeId, lba: number, cls: number): boolean {
    const site = this.sites.get(siteKey(source, cls));
    return cls !== 0 && site !== undefined && (site.size > 1 || !site.has(lba));
  }
}

function sharing(
  pattern: DataPattern | undefined,
  cls: number,
  writeId: number,
  sameLba: boolean,
  otherLba: boolean,
): Sharing {
  if (cls === 0) return 'zero';
  if (pattern?.kind === 'near' && cls === writeId) return 'near';
  if (sameLba) return 'same-contents-again';
  return otherLba ? 'same-contents-other-lba' : 'fresh';
}

const memberKey = (source: NodeId, lba: number, cls: number): string => `${source}|${lba}|${cls}`;
const siteKey = (source: NodeId, cls: number): string => `${source}|${cls}`;
