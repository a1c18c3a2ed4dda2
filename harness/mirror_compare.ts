// Compares a source's primary with its mirror through the conformance-target interface only:
// block for block over the VBNs either committed image uses, and by LBA over the whole volume.

import { Buffer } from 'node:buffer';
import type { NodeId, TargetInstance } from './target.ts';
import { writeIdOf } from './write_identity.ts';

export interface MirrorDifference {
  /** VBNs live on one side only, or live on both with different contents. */
  readonly vbns: number[];
  /** LBAs whose committed contents differ, with the write identity each side holds (-1: not a whole write). */
  readonly lbas: { readonly lba: number; readonly primary: number; readonly mirror: number }[];
}

export function compareMirror(t: TargetInstance, source: NodeId, lbaCount: number): MirrorDifference {
  const primaryVbns = t.liveVbns(source, 'primary');
  const mirrorVbns = new Set(t.liveVbns(source, 'mirror'));
  const vbns: number[] = [];
  if (t.readVbns) {
    const both = primaryVbns.filter((v) => mirrorVbns.has(v));
    vbns.push(...primaryVbns.filter((v) => !mirrorVbns.has(v)));
    vbns.push(...differingBlocks(t, source, both));
    for (const v of primaryVbns) mirrorVbns.delete(v);
  } else
    for (const vbn of primaryVbns) {
      if (
        !mirrorVbns.delete(vbn) ||
        !sameBytes(t.readVbn(source, 'primary', vbn), t.readVbn(source, 'mirror', vbn))
      )
        vbns.push(vbn);
    }
  vbns.push(...mirrorVbns);
  const lbas: MirrorDifference['lbas'][number][] = [];
  // A target that reads whole images does so; otherwise LBA by LBA, the two sides in turn, as always.
  const primary = t.readCommittedImage ? readCommittedImage(t, source, 'primary', lbaCount) : null;
  const mirror = t.readCommittedImage ? readCommittedImage(t, source, 'mirror', lbaCount) : null;
  for (let lba = 0; lba < lbaCount; lba++) {
    const p = primary?.[lba] ?? t.readPrimaryCommitted(source, lba);
    const m = mirror?.[lba] ?? t.readMirrorCommitted(source, lba);
    if (!sameBytes(p, m)) lbas.push({ lba, primary: writeIdOf(p), mirror: writeIdOf(m) });
  }
  return { vbns: vbns.sort((a, b) => a - b), lbas };
}

/** Of `vbns`, those whose blocks differ between the two sides, read in one call per side (readVbns). */
function differingBlocks(t: TargetInstance, source: NodeId, vbns: readonly number[]): number[] {
  if (vbns.length === 0) return [];
  const primary = t.readVbns!(source, 'primary', vbns);
  const mirror = t.readVbns!(source, 'mirror', vbns);
  if (primary.length !== vbns.length || mirror.length !== vbns.length)
    throw new RangeError(
      `readVbns(${source}) gave ${primary.length} and ${mirror.length} blocks for ${vbns.length} VBNs`,
    );
  return vbns.filter((_, i) => !sameBytes(primary[i]!, mirror[i]!));
}

/** A committed image by LBA: in one call when the target reads whole images, else LBA by LBA. */
export function readCommittedImage(
  t: TargetInstance,
  source: NodeId,
  side: 'primary' | 'mirror',
  lbaCount: number,
): Uint8Array[] {
  if (t.readCommittedImage) {
    const image = t.readCommittedImage(source, side);
    if (image.length !== lbaCount)
      throw new RangeError(
        `readCommittedImage(${source}, ${side}) gave ${image.length} blocks for ${lbaCount} LBAs`,
      );
    return image;
  }
  const read = side === 'primary' ? t.readPrimaryCommitted : t.readMirrorCommitted;
  return Array.from({ length: lbaCount }, (_, lba) => read.call(t, source, lba));
}

export function isEqual(d: MirrorDifference): boolean {
  return d.vbns.length === 0 && d.lbas.length === 0;
}

/** Equal bytes: a native comparison (a memcmp), several times a JS loop's speed over a 4 KiB block. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * The cheap check at a CP boundary: the two live VBN sets are equal, and the VBNs that became live since
 * `previouslyLive` hold equal blocks. A write-anywhere volume never rewrites a live block, so what was
 * compared before still holds; the whole volumes are compared at the end of a run.
 */
export function compareNewlyLive(
  t: TargetInstance,
  source: NodeId,
  previouslyLive: ReadonlySet<number>,
): { readonly differing: number[]; readonly live: Set<number> } {
  const primary = t.liveVbns(source, 'primary');
  const mirror = new Set(t.liveVbns(source, 'mirror'));
  const differing: number[] = [];
  if (t.readVbns) {
    differing.push(...primary.filter((v) => !mirror.has(v)));
    const fresh = primary.filter((v) => mirror.has(v) && !previouslyLive.has(v));
    differing.push(...differingBlocks(t, source, fresh));
  } else
    for (const vbn of primary) {
      if (!mirror.has(vbn)) differing.push(vbn);
      else if (
        !previouslyLive.has(vbn) &&
        !sameBytes(t.readVbn(source, 'primary', vbn), t.readVbn(source, 'mirror', vbn))
      )
        differing.push(vbn);
    }
  const live = new Set(primary);
  for (const vbn of mirror) if (!live.has(vbn)) differing.push(vbn);
  return { differing: differing.sort((a, b) => a - b), live };
}
