// Parity throughput: GB of data protected per second for full stripes of 4 KiB blocks, computed by
// the RAID layer's own encoder and kernels, against a native memory copy of the same bytes.
//
// Five ways, each on the same data: the wasm SIMD kernels with every block in their arena (in place:
// nothing copied in or out, parity written into its own arena buffers); the wasm kernels as the RAID
// layer calls them (`encodeInto` with the data on the JS heap, each block staged into wasm memory
// once, and the parity into arena blocks, as impl/parity_group.ts plans a stripe write); through
// `encode` on heap blocks alone (each parity copied out into a new block); and the JS word loops both
// ways (a new block per parity, and into preallocated parity blocks), the kernels the wasm ones
// replace and their fallback.

import { copyWords } from '../impl/parity.ts';
import { encode, encodeInto, type ParityCode } from '../impl/parity_code.ts';
import { createWasmXor, type WasmXor, wasmXor } from '../impl/parity_wasm.ts';
import { raidDpCode } from '../impl/raid_dp.ts';
import { raid4Code } from '../impl/raid4.ts';

const BLOCK_BYTES = 4096;
/** Data bytes in the working set: larger than L2, reused every pass, as a CP's buffers are. */
const WORKING_SET_BYTES = 4 << 20;
const RUN_MS = 700;
const WARMUP_MS = 150;

/** One code's throughput, GB of data per second, each way. */
export interface EncodeFigures {
  /** Wasm SIMD, every block in the kernels' arena: encoded in place (encodeInto). */
  wasmInPlaceGBps: number;
  /** Wasm SIMD as the RAID layer calls it: heap data staged, parity into arena blocks (encodeInto). */
  wasmRaidGBps: number;
  /** Wasm SIMD through `encode` on heap blocks: each staged, a new block per parity. */
  wasmGBps: number;
  /** JS word loops through `encode`: a new block per parity (the kernels before wasm; the fallback). */
  jsGBps: number;
  /** JS word loops into preallocated heap parity blocks (encodeInto): the loops without allocation. */
  jsInPlaceGBps: number;
}

export interface ParityFigures {
  /** RAID-4, 7 data disks + row parity. */
  raid4: EncodeFigures;
  /** RAID-DP, p = 7: 6 data disks + row and diagonal parity. */
  raidDp: EncodeFigures;
  /** TypedArray.prototype.set over the same bytes: the engine's native copy, the reference. */
  memcpyNativeGBps: number;
  /** A Uint32Array word loop copying the same data bytes: the loop the JS kernels walk like. */
  memcpyGBps: number;
  /** Whether the engine ran the wasm kernels (false: the wasm figures are the JS fallback's). */
  wasm: boolean;
}

export function measureParity(): ParityFigures {
  const copies = copyPairs();
  const native = (): number =>
    rate(copies.bytes, () => {
      for (const [dst, src] of copies.pairs) dst.set(src);
    });
  // The reference is measured before and after the parity figures and averaged, so a load change
  // during the run moves it as it moves them.
  const before = native();
  const raid4 = encodeRates(raid4Code(7));
  const raidDp = encodeRates(raidDpCode(6));
  const after = native();
  return {
    raid4,
    raidDp,
    memcpyNativeGBps: (before + after) / 2,
    memcpyGBps: rate(copies.bytes, () => {
      for (const [dst, src] of copies.pairs) copyWords(dst, src);
    }),
    wasm: wasmXor() !== null,
  };
}

function encodeRates(code: ParityCode): EncodeFigures {
  const dataCells: number[] = [];
  for (let row = 0; row < code.rows; row++)
    for (let column = 0; column < code.dataColumns; column++) dataCells.push(row * code.columns + column);
  const unitCount = Math.max(1, Math.round(WORKING_SET_BYTES / (dataCells.length * BLOCK_BYTES)));
  const dataBytes = unitCount * dataCells.length * BLOCK_BYTES;
  const parityCells = code.equations.map((eq) => eq.parity);
  // Room for the in-place units' cells and the RAID layer's parity blocks.
  const arenaBytes = 2 * unitCount * code.rows * code.columns * BLOCK_BYTES;
  const arena = createWasmXor(arenaBytes);
  const inArena = (): Uint32Array => arena?.block(BLOCK_BYTES / 4) ?? new Uint32Array(BLOCK_BYTES / 4);
  const heap = (): Uint32Array => new Uint32Array(BLOCK_BYTES / 4);
  const arenaUnits = units(code, unitCount, dataCells, parityCells, inArena);
  const heapUnits = units(code, unitCount, dataCells, parityCells, heap);
  const freshUnits = units(code, unitCount, dataCells, [], heap);
  // The data of freshUnits (never written: encode fills only parity cells), parity in the arena.
  const raidUnits = freshUnits.map((cells) => {
    const out = cells.slice();
    for (const cell of parityCells) out[cell] = inArena();
    return out;
  });
  return {
    wasmInPlaceGBps: rate(dataBytes, () => {
      for (const cells of arenaUnits) encodeInto(code, cells, arena);
    }),
    wasmRaidGBps: rate(dataBytes, () => {
      for (const cells of raidUnits) encodeInto(code, cells, arena);
    }),
    wasmGBps: rate(dataBytes, () => {
      for (const cells of freshUnits) encode(code, cells);
    }),
    jsGBps: rate(dataBytes, () => {
      for (const cells of freshUnits) encode(code, cells, undefined, null);
    }),
    jsInPlaceGBps: rate(dataBytes, () => {
      for (const cells of heapUnits) encodeInto(code, cells, null as WasmXor | null);
    }),
  };
}

/** `count` units with their data cells filled, and a block from `block` in each of `parityCells`. */
function units(
  code: ParityCode,
  count: number,
  dataCells: readonly number[],
  parityCells: readonly number[],
  block: () => Uint32Array,
): (Uint32Array | null)[][] {
  return Array.from({ length: count }, (_, u) => {
    const cells: (Uint32Array | null)[] = new Array(code.rows * code.columns).fill(null);
    for (const cell of dataCells) cells[cell] = fill(block(), u * 1000 + cell);
    for (const cell of parityCells) cells[cell] = block();
    return cells;
  });
}

function copyPairs(): { pairs: [Uint32Array, Uint32Array][]; bytes: number } {
  const blocks = WORKING_SET_BYTES / BLOCK_BYTES;
  const pairs = Array.from({ length: blocks }, (_, i): [Uint32Array, Uint32Array] => [
    new Uint32Array(BLOCK_BYTES / 4),
    fill(new Uint32Array(BLOCK_BYTES / 4), i),
  ]);
  return { pairs, bytes: blocks * BLOCK_BYTES };
}

/** Fills `words` from a seed (xorshift32) and returns it. */
function fill(words: Uint32Array, seed: number): Uint32Array {
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
