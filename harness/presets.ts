// Ready-made world specs: the geometries and timings the scenarios, campaigns and benchmarks use.
// The two sides of every mirror differ on purpose: a RAID-4 source (or a RAID-DP one of 4 data disks), a
// RAID-DP destination of another width.

import type { RaidGeometry, RaidLevel } from './media/geometry.ts';
import type { Mode, SourceSpec, WorldSpec } from './target.ts';

export interface PresetOptions {
  readonly sources?: number;
  readonly mode?: Mode;
  readonly blockBytes?: number;
  readonly lbaCount?: number;
  /** Log entries each NVLOG half holds. */
  readonly nvlogHalfEntries?: number;
  readonly cpIntervalTicks?: number;
  readonly ackTimeoutTicks?: number;
  /**
   * A log file group of 4 * nvlogHalfEntries records (two blocks each, plus two) instead of
   * 8 * max(nvlogHalfEntries, 16): room for both NVLOG halves twice over, and small enough that a
   * schedule's entries wrap around it (target.ts, rule F3).
   */
  readonly smallLogFile?: boolean;
  /**
   * The sources' primary RAID level: 'raid4' (4+1, the default) or 'raid_dp' (4 data disks, p = 5,
   * 4+2), a group that survives two failed disks.
   */
  readonly primaryLevel?: RaidLevel;
}

/**
 * A small world: per source, RAID-4 4+1 primary (or RAID-DP 4+2), a RAID-DP mirror with 6 data disks (p = 7), and a
 * RAID-4 2+1 log file group. Volumes have room for the live image, the CP being written and two pinned
 * base images (an out-of-sync period), each at most lbaCount data blocks plus its map.
 */
export function smallWorld(options: PresetOptions = {}): WorldSpec {
  const blockBytes = options.blockBytes ?? 512;
  const lbaCount = options.lbaCount ?? 64;
  const halfEntries = options.nvlogHalfEntries ?? 16;
  const mapBlocks = Math.ceil(lbaCount / (blockBytes / 4));
  const vbnsNeeded = 4 + 5 * (lbaCount + mapBlocks);
  // RAID-DP 4+2 is p = 5, four rows a stripe: its disks hold whole stripes, so round up to 4 rows.
  const dp = options.primaryLevel === 'raid_dp';
  const primary: RaidGeometry = {
    level: dp ? 'raid_dp' : 'raid4',
    dataDisks: 4,
    depthBlocks: 1,
    blocksPerDisk: dp ? 4 * Math.ceil(vbnsNeeded / 16) : Math.ceil(vbnsNeeded / 4),
    blockBytes,
  };
  const mirror: RaidGeometry = {
    level: 'raid_dp',
    dataDisks: 6,
    depthBlocks: 1,
    blocksPerDisk: Math.ceil(vbnsNeeded / 6),
    blockBytes,
  };
  // The log file holds what arrives between two CPs: a few NVLOG halves' worth is plenty.
  const logRecords = options.smallLogFile ? 4 * halfEntries : 8 * Math.max(halfEntries, 16);
  const logFile: RaidGeometry = {
    level: 'raid4',
    dataDisks: 2,
    depthBlocks: 1,
    blocksPerDisk: Math.ceil((1 + 2 * logRecords) / 2),
    blockBytes,
  };
  const sources: SourceSpec[] = Array.from({ length: options.sources ?? 1 }, (_, i) => ({
    id: `src${i}`,
    mode: options.mode ?? 'sync',
    lbaCount,
    primary,
    mirror,
    logFile,
    nvramBytes: 2 * (32 + halfEntries * (blockBytes + 32)),
    nvlogHalfEntries: halfEntries,
  }));
  return {
    blockBytes,
    cpIntervalTicks: options.cpIntervalTicks ?? 10,
    ackTimeoutTicks: options.ackTimeoutTicks ?? 4,
    semiSyncMaxLagEntries: 4,
    sources,
  };
}
