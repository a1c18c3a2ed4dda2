// The RAID layer's contract and factory: a group of disks presented as a flat array of volume block
// numbers (VBNs), with RAID-4 (tolerates one lost disk) or RAID-DP (tolerates two). Fault model:
// whole-disk failures, latent sector errors (checksum mismatch on read), torn writes after a power cut
// (parity of the stripes being written may be stale until resyncParity runs on the next assembly), a
// power cut during a rebuild (the next assembly knows from the disks' labels and resyncParity finishes it).

import { Disk } from '../harness/media/disk.ts';
import { ConfigError } from '../harness/media/errors.ts';
import { checkGeometry, disksFor, type RaidGeometry } from '../harness/media/geometry.ts';
import type { Power } from '../harness/media/power.ts';
import type { ParityCode } from './parity_code.ts';
import { raidDpCode, raidDpGroup } from './raid_dp.ts';
import { raid4Code, raid4Group } from './raid4.ts';
import { makeLayout } from './stripe.ts';

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
  /** Blocks whose stored checksum did not match and were rewritten from parity (scrub: labels too). */
  repairedBlocks: number;
  fullStripeWrites: number;
  partialStripeWrites: number;
  /**
   * Blocks written onto spares by replaceAndRebuild and by the finish of an interrupted rebuild
   * (an all-zero block needs no write unless the spare already holds a block there).
   */
  rebuiltBlocks: number;
  /** Bad blocks scrub found but could not reconstruct (beyond what the stripe's parity can recover). */
  unrepairableBlocks: number;
  /**
   * Bad data blocks resyncParity could not repair (torn by the cut, or rotten in a stripe the cut left
   * stale): parity now covers their bytes so they still protect their neighbours, but reads refuse
   * them until they are overwritten.
   */
  sealedBlocks: number;
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
  /** `read` into `out` (`blockBytes` long) instead of a new block: a whole image in one allocation. */
  readInto(vbn: number, out: Uint8Array): void;
  /** Writes blocks and keeps every touched stripe's parity correct (full-stripe or partial-stripe). */
  write(blocks: readonly VbnBlock[]): void;
  /** Indices (into `disks`) of the disks read as missing: failed, or a spare whose rebuild is unfinished. */
  failedDisks(): number[];
  /**
   * Puts a blank spare in place of disk `index`, reconstructs every stripe onto it, then writes its
   * label (the disk's last block). Until that label is down the spare is read as missing, after a
   * power cut and re-assembly too.
   */
  /**
   * `unsafeLabelFirst` is a deliberate bug for a canary: the spare is labelled an in-sync member before
   * its blocks are rebuilt, so a power cut in the rebuild leaves a half-written spare taken for data.
   */
  replaceAndRebuild(index: number, spare: Disk, options?: { readonly unsafeLabelFirst?: boolean }): void;
  /**
   * After an unclean shutdown: finish every rebuild the disks' labels show unfinished, then recompute
   * the parity of every stripe that holds written blocks; returns how many stripes' parity changed.
   * A stripe with a data disk missing is left alone: that disk's blocks exist only as its parity.
   * `unsafeOverMissing` is a deliberate bug for a canary: such stripes are recomputed as well, from
   * the data disks present, erasing the missing disk's blocks.
   */
  resyncParity(options?: { readonly unsafeOverMissing?: boolean }): number;
  /** Reads every stored block and every disk's label, repairing latent errors; returns how many were repaired. */
  scrub(): number;
}

/**
 * One line for logs, e.g. `RAID-DP (p=5): 3 data + 2 parity disks, depth 1, 9 x 64 B blocks per disk
 * (the last its label), 24 VBNs`; blocks between the last whole stripe and the label are unused.
 */
export function describeGeometry(geometry: RaidGeometry): string {
  const code = codeFor(geometry);
  const layout = makeLayout(code, geometry.depthBlocks, geometry.blocksPerDisk);
  const parity = code.columns - code.dataColumns;
  const unused = layout.labelDbn - layout.stripeCount * layout.stripeDbns;
  const tail = unused > 0 ? `${unused} unused, then ` : '';
  return (
    `${code.name}: ${code.dataColumns} data + ${parity} parity disks, depth ${geometry.depthBlocks}, ` +
    `${geometry.blocksPerDisk} x ${geometry.blockBytes} B blocks per disk (${tail}the last its label), ` +
    `${layout.vbnCount} VBNs`
  );
}

/** A group of fresh blank disks named `<idPrefix>.d0 ..`, `<idPrefix>.p` (row parity), `<idPrefix>.q` (diagonal). */
export function createRaidGroup(
  geometry: RaidGeometry,
  options: { power?: Power; idPrefix?: string } = {},
): RaidGroup {
  checkGeometry(geometry);
  const prefix = options.idPrefix ?? 'raid';
  const names = diskNames(geometry, prefix);
  const disks = names.map(
    (id) =>
      new Disk({
        id,
        blockCount: geometry.blocksPerDisk,
        blockBytes: geometry.blockBytes,
        ...(options.power ? { power: options.power } : {}),
      }),
  );
  return groupFor(geometry, disks, prefix);
}

/**
 * A group over existing disks, in `disks` order (data, row parity, diagonal parity): how a server
 * re-mounts its media after a crash. Each disk's label says whether it is an in-sync member: a spare
 * whose rebuild did not finish is read as missing. Call resyncParity next if the shutdown was not
 * clean: it finishes such a rebuild first.
 */
export function assembleRaidGroup(geometry: RaidGeometry, disks: readonly Disk[]): RaidGroup {
  const needed = disksFor(geometry);
  const label = commonPrefix(disks.map((d) => d.id)) || 'raid';
  if (disks.length !== needed)
    throw new ConfigError(
      `raid group ${label}: ${geometry.level} with ${geometry.dataDisks} data disks needs ${needed} disks, got ${disks.length}`,
    );
  if (new Set(disks).size !== disks.length)
    throw new ConfigError(`raid group ${label}: the same disk appears twice`);
  for (const disk of disks) {
    if (disk.blockBytes !== geometry.blockBytes)
      throw new ConfigError(
        `raid group ${label}: disk ${disk.id} has ${disk.blockBytes}-byte blocks, the geometry ${geometry.blockBytes}`,
      );
    if (disk.blockCount < geometry.blocksPerDisk)
      throw new ConfigError(
        `raid group ${label}: disk ${disk.id} holds ${disk.blockCount} blocks, the geometry needs ${geometry.blocksPerDisk}`,
      );
  }
  return groupFor(geometry, disks, label);
}

function groupFor(geometry: RaidGeometry, disks: readonly Disk[], label: string): RaidGroup {
  const name = `raid group ${label}`;
  return geometry.level === 'raid4' ? raid4Group(geometry, disks, name) : raidDpGroup(geometry, disks, name);
}

function diskNames(geometry: RaidGeometry, prefix: string): string[] {
  const names = Array.from({ length: geometry.dataDisks }, (_, i) => `${prefix}.d${i}`);
  names.push(`${prefix}.p`);
  if (geometry.level === 'raid_dp') names.push(`${prefix}.q`);
  return names;
}

/** The shared start of the disk ids, without a trailing separator: 'src' for src.d0, src.d1, src.p. */
function commonPrefix(ids: readonly string[]): string {
  let prefix = ids[0] ?? '';
  for (const id of ids) while (!id.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix.replace(/[.\-_/:]+$/, '');
}

function codeFor(geometry: RaidGeometry): ParityCode {
  checkGeometry(geometry);
  return geometry.level === 'raid4' ? raid4Code(geometry.dataDisks) : raidDpCode(geometry.dataDisks);
}
