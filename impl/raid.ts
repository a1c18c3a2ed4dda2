// The RAID layer's contract and factory: a group of disks presented as a flat array of volume block
// numbers (VBNs), with RAID-4 (tolerates one lost disk) or RAID-DP (tolerates two). Fault model:
// whole-disk failures, latent sector errors (checksum mismatch on read), torn writes after a power cut
// (parity of the stripes being written may be stale until resyncParity runs on the next assembly).

import type { Disk } from './disk.ts';

export type RaidLevel = 'raid4' | 'raid_dp';

export interface RaidGeometry {
  readonly level: RaidLevel;
  /** Data disks in the group. RAID-DP uses the smallest prime p > dataDisks; missing disks read as zeros. */
  readonly dataDisks: number;
  /** Stripe depth: consecutive blocks of one disk in one stripe element. */
  readonly depthBlocks: number;
  /** Blocks on each disk (DBNs 0 .. blocksPerDisk-1). */
  readonly blocksPerDisk: number;
  readonly blockBytes: number;
}

/** One volume block: what a CP writes and what the CP sync phase ships to the mirror. */
export interface VbnBlock {
  readonly vbn: number;
  readonly data: Uint8Array;
}

export interface RaidStats {
  blockReads: number;
  blockWrites: number;
  /** Reads served by reconstruction because a disk is failed. */
  degradedReads: number;
  /** Blocks whose stored checksum did not match and were rewritten from parity. */
  repairedBlocks: number;
  fullStripeWrites: number;
  partialStripeWrites: number;
}

export interface RaidGroup {
  readonly geometry: RaidGeometry;
  /** Fault tolerance in whole disks: 1 for RAID-4, 2 for RAID-DP. */
  readonly tolerance: number;
  readonly vbnCount: number;
  readonly blockBytes: number;
  /** Data disks first, then row parity, then (RAID-DP) diagonal parity. */
  readonly disks: readonly Disk[];
  readonly stats: RaidStats;
  /**
   * A copy of the block at `vbn`, verified against its checksum; served degraded when its disk is
   * failed; a latent error is repaired from parity and rewritten. Throws RaidFailure rather than ever
   * returning wrong data.
   */
  read(vbn: number): Uint8Array;
  /** Writes blocks and keeps every touched stripe's parity correct (full-stripe or partial-stripe). */
  write(blocks: readonly VbnBlock[]): void;
  /** Indices (into `disks`) of the failed disks. */
  failedDisks(): number[];
  /** Puts a blank spare in place of disk `index` and reconstructs every stripe onto it. */
  replaceAndRebuild(index: number, spare: Disk): void;
  /** After an unclean shutdown: recompute the parity of every stripe that holds written blocks. */
  resyncParity(): number;
  /** Reads every stored block, repairing latent errors; returns how many were repaired. */
  scrub(): number;
}
