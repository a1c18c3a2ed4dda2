// Benchmark of consistency points: 4 KiB blocks written to a volume, then committed by a CP through a
// RAID-4 group of 4 data disks (full-stripe writes). Wall-clock time is allowed here, never in impl/.

import type { RaidGeometry } from '../harness/media/geometry.ts';
import { Power } from '../harness/media/power.ts';
import { createRaidGroup } from '../impl/raid.ts';
import { Volume } from '../impl/volume.ts';

const GEOMETRY: RaidGeometry = {
  level: 'raid4',
  dataDisks: 4,
  depthBlocks: 4,
  blocksPerDisk: 4096,
  blockBytes: 4096,
};
const LBA_COUNT = 8192;
const BLOCKS_PER_CP = 1024;
const MIN_MS = 750;
const WARMUP_CPS = LBA_COUNT / BLOCKS_PER_CP;

/** 4 KiB blocks per second through volume.write and cp(), over at least MIN_MS of CPs. */
export function measureCp(): { blocksPerSecond: number; blocks: number; level: string } {
  const volume = Volume.format(createRaidGroup(GEOMETRY, { power: new Power() }), { lbaCount: LBA_COUNT });
  const data = new Uint8Array(GEOMETRY.blockBytes);
  let cps = 0;
  const runCp = (): void => {
    // Each CP overwrites a window of LBAs, so CPs free and reuse blocks as a busy volume does.
    const base = (cps * BLOCKS_PER_CP) % LBA_COUNT;
    for (let i = 0; i < BLOCKS_PER_CP; i++) {
      data[0] = cps;
      data[1] = i;
      volume.write(base + i, data);
    }
    volume.cp(++cps);
  };
  // Untimed warm-up: the JIT compiles the hot paths and every LBA gets a block, so timed CPs all free.
  for (let i = 0; i < WARMUP_CPS; i++) runCp();
  let blocks = 0;
  const start = performance.now();
  let elapsedMs = 0;
  while (elapsedMs < MIN_MS) {
    runCp();
    blocks += BLOCKS_PER_CP;
    elapsedMs = performance.now() - start;
  }
  return { blocksPerSecond: (blocks * 1000) / elapsedMs, blocks, level: 'RAID-4, 4 data disks' };
}
