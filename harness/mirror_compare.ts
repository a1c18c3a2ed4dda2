// Compares a source's primary with its mirror through the conformance-target interface only:
// block for block over the VBNs either committed image uses, and by LBA over the whole volume.

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
  for (const vbn of primaryVbns) {
    if (
      !mirrorVbns.delete(vbn) ||
      !sameBytes(t.readVbn(source, 'primary', vbn), t.readVbn(source, 'mirror', vbn))
    )
      vbns.push(vbn);
  }
  vbns.push(...mirrorVbns);
  const lbas: MirrorDifference['lbas'][number][] = [];
  for (let lba = 0; lba < lbaCount; lba++) {
    const p = t.readPrimaryCommitted(source, lba);
    const m = t.readMirrorCommitted(source, lba);
    if (!sameBytes(p, m)) lbas.push({ lba, primary: writeIdOf(p), mirror: writeIdOf(m) });
  }
  return { vbns: vbns.sort((a, b) => a - b), lbas };
}

export function isEqual(d: MirrorDifference): boolean {
  return d.vbns.length === 0 && d.lbas.length === 0;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
