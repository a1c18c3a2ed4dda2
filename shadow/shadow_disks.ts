// Disk housekeeping at mount for the shadow-paging target: a blank spare put in while the server was down.
// Fault model: disks replaced while powered off; failed disks (their reads throw) are left to RAID.

import { Disk } from '../harness/media/disk.ts';
import { DiskFailed } from '../harness/media/errors.ts';
import { RaidFailure } from '../impl/errors.ts';
import type { RaidGroup } from '../impl/raid.ts';

/**
 * At format: zeros over the first stripe, so that every member disk holds a block from then on and an
 * empty disk at mount can only be a blank spare put in while the server was down.
 */
export function touchEveryDisk(group: RaidGroup): void {
  const g = group.geometry;
  let rows = 1;
  if (g.level === 'raid_dp') {
    let p = g.dataDisks + 1;
    while (!isPrime(p)) p++;
    rows = p - 1;
  }
  const count = Math.min(group.vbnCount, g.dataDisks * g.depthBlocks * rows);
  group.write(Array.from({ length: count }, (_, vbn) => ({ vbn, data: new Uint8Array(group.blockBytes) })));
}

function isPrime(n: number): boolean {
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return n >= 2;
}

/**
 * A disk that holds nothing while another member holds data was put in blank: rebuild it from parity before parity is recomputed over it. RAID
 * rebuilds only onto a disk other than the member, so a fresh one of the same make takes its place in
 * `disks` (the media's own array, where the world put the blank spare).
 */
export function rebuildBlankDisks(group: RaidGroup, disks: Disk[]): void {
  const stored = group.disks.map((d) => {
    try {
      return d.storedDbns().length;
    } catch (e) {
      if (e instanceof DiskFailed) return -1;
      throw e;
    }
  });
  if (!stored.some((n) => n > 0)) return;
  stored.forEach((n, i) => {
    if (n !== 0) return;
    try {
      const blank = disks[i]!;
      const fresh = new Disk({
        id: blank.id,
        blockCount: blank.blockCount,
        blockBytes: blank.blockBytes,
        power: blank.power,
      });
      group.replaceAndRebuild(i, fresh);
      disks[i] = fresh;
    } catch (e) {
      // Beyond tolerance: run degraded; reads that cannot be reconstructed fail with RaidFailure.
      if (!(e instanceof RaidFailure)) throw e;
    }
  });
}
