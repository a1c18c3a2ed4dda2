// Parity throughput: GB of data protected per second for full stripes of 4 KiB blocks, computed by
// the RAID layer's own encoder and kernels, against a memory copy of the same bytes by the same loop.

import { copyWords } from '../impl/parity.ts';
import { encode, type ParityCode } from '../impl/parity_code.ts';
import { raidDpCode } from '../impl/raid_dp.ts';
import { raid4Code } from '../impl/raid4.ts';

const BLOCK_BYTES = 4096;
/** Data bytes in the working set: larger than L2, reused every pass, as a CP's buffers are. */
const WORKING_SET_BYTES = 4 << 20;
const RUN_MS = 700;
const WARMUP_MS = 150;

export interface ParityFigures {
  /** RAID-4, 7 data disks + row parity. */
  raid4GBps: number;
  /** RAID-DP, p = 7: 6 data disks + row and diagonal parity. */
  raidDpGBps: number;
  /** A Uint32Array word loop copying the same data bytes: the reference the parity kernels walk like. */
  memcpyGBps: number;
  /** TypedArray.prototype.set over the same bytes: the engine's native copy, for scale. */
  memcpyNativeGBps: number;
}

export function measureParity(): ParityFigures {
  const raid4 = encodeRate(raid4Code(7));
  const raidDp = encodeRate(raidDpCode(6));
  const copies = copyPairs();
  return {
    raid4GBps: raid4,
    raidDpGBps: raidDp,
    memcpyGBps: rate(copies.bytes, () => {
      for (const [dst, src] of copies.pairs) copyWords(dst, src);
    }),
    memcpyNativeGBps: rate(copies.bytes, () => {
      for (const [dst, src] of copies.pairs) dst.set(src);
    }),
  };
}

/** Full-stripe encoding of units filling the working set; returns GB of data per second. */
function encodeRate(code: ParityCode): number {
  const dataCells: number[] = [];
  for (let row = 0; row < code.rows; row++)
    for (let column = 0; column < code.dataColumns; column++) dataCells.push(row * code.columns + column);
  const unitBytes = dataCells.length * BLOCK_BYTES;
  const units = Array.from({ length: Math.max(1, Math.round(WORKING_SET_BYTES / unitBytes)) }, (_, u) => {
    const cells: (Uint32Array | null)[] = new Array(code.rows * code.columns).fill(null);
    for (const cell of dataCells) cells[cell] = filled(u * 1000 + cell);
    return cells;
  });
  return rate(units.length * unitBytes, () => {
    for (const cells of units) encode(code, cells);
  });
}

function copyPairs(): { pairs: [Uint32Array, Uint32Array][]; bytes: number } {
  const blocks = WORKING_SET_BYTES / BLOCK_BYTES;
  const pairs = Array.from({ length: blocks }, (_, i): [Uint32Array, Uint32Array] => [
    new Uint32Array(BLOCK_BYTES / 4),
    filled(i),
  ]);
  return { pairs, bytes: blocks * BLOCK_BYTES };
}

function filled(seed: number): Uint32Array {
  const words = new Uint32Array(BLOCK_BYTES / 4);
  let x = (seed * 2654435761) | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return words;
}

/** Repeats `pass` (which touches `bytesPerPass` data bytes) for about RUN_MS after a warm-up. */
function rate(bytesPerPass: number, pass: () => void): number {
  const warmupEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmupEnd) pass();
  let passes = 0;
  const start = performance.now();
  let now = start;
  while (now - start < RUN_MS) {
    pass();
    passes++;
    now = performance.now();
  }
  return (passes * bytesPerPass) / ((now - start) / 1000) / 1e9;
}
