// The shape of the disk array the harness hands each node: a RAID group's level, its data disks, its
// stripe depth and its disks' size. It is part of the world spec, so it lives with the simulated
// hardware; how a target lays data out over those disks (the reference's codes in impl/raid*.ts, a
// user's own RAID) is the target's business. Fault model: none; a geometry that cannot describe real
// hardware is a ConfigError, thrown before any disk is made.

import { ConfigError } from './errors.ts';

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

const LEVELS: readonly RaidLevel[] = ['raid4', 'raid_dp'];
const MAX_DATA_DISKS = 256;

/** Disks a group of this geometry needs: the data disks plus one (RAID-4) or two (RAID-DP) parity disks. */
export function disksFor(geometry: RaidGeometry): number {
  checkGeometry(geometry);
  return geometry.dataDisks + (geometry.level === 'raid4' ? 1 : 2);
}

/** Whole disks a group of this level may lose and still serve every block: 1 (RAID-4), 2 (RAID-DP). */
export function toleranceOfLevel(level: RaidLevel): number {
  return level === 'raid_dp' ? 2 : 1;
}

/** The smallest prime strictly greater than `n` (RAID-DP needs p-1 >= data disks). */
export function primeAbove(n: number): number {
  let p = Math.max(2, n + 1);
  while (!isPrime(p)) p++;
  return p;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let f = 2; f * f <= n; f++) if (n % f === 0) return false;
  return true;
}

/** Throws a ConfigError naming the field when `g` cannot describe real hardware. */
export function checkGeometry(g: RaidGeometry): void {
  const bad = (why: string): never => {
    throw new ConfigError(`RAID geometry ${JSON.stringify(g)}: ${why}`);
  };
  if (!LEVELS.includes(g.level)) bad(`level must be one of ${LEVELS.join(', ')}`);
  if (!Number.isInteger(g.dataDisks) || g.dataDisks < 1 || g.dataDisks > MAX_DATA_DISKS)
    bad(`dataDisks must be an integer from 1 to ${MAX_DATA_DISKS}`);
  if (!Number.isInteger(g.depthBlocks) || g.depthBlocks < 1) bad('depthBlocks must be a positive integer');
  if (!Number.isInteger(g.blockBytes) || g.blockBytes < 64 || g.blockBytes % 8 !== 0)
    bad('blockBytes must be a multiple of 8, at least 64');
  // A RAID-DP stripe is p - 1 rows for the smallest prime p > dataDisks.
  const rows = g.level === 'raid4' ? 1 : primeAbove(g.dataDisks) - 1;
  if (!Number.isInteger(g.blocksPerDisk) || g.blocksPerDisk < rows * g.depthBlocks)
    bad(`blocksPerDisk must be an integer of at least one stripe (${rows} rows x depth ${g.depthBlocks})`);
}
