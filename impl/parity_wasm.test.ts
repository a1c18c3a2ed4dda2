// Tests of the WebAssembly SIMD XOR kernels against the JS word loops (the oracle) and a byte-by-byte
// XOR: random blocks, odd lengths, every source count, aliasing, arena blocks in place, and the staging
// limits (a unit larger than scratch, an equation larger than scratch) that fall back or restart.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { xorOf, xorOfJs } from './parity.ts';
import { encode, encodeInto, type ParityCode } from './parity_code.ts';
import { createWasmXor, MAX_WASM_SOURCES, wasmXor, xorModuleBytes } from './parity_wasm.ts';
import { raidDpCode } from './raid_dp.ts';
import { raid4Code } from './raid4.ts';

/**
 * 1..maxCount blocks of one length, 1..maxWords words, from fast-check, so failures print their
 * contents. The count is drawn uniformly (fc.array's default size would rarely pass 10): every
 * chaining of passes (1 to 3 for 24 sources) is reached.
 */
const blocksArb = (maxCount: number, maxWords: number) =>
  fc
    .tuple(fc.integer({ min: 1, max: maxCount }), fc.integer({ min: 1, max: maxWords }))
    .chain(([count, words]) =>
      fc.array(fc.uint32Array({ minLength: words, maxLength: words }), {
        minLength: count,
        maxLength: count,
      }),
    );

function byteXor(blocks: readonly Uint32Array[], words: number): number[] {
  const out = new Uint8Array(words * 4);
  for (const b of blocks) {
    const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < out.length; i++) out[i]! ^= bytes[i]!;
  }
  return [...out];
}

const bytesOf = (w: Uint32Array): number[] => [...new Uint8Array(w.buffer, w.byteOffset, w.byteLength)];

describe('the module', () => {
  test('validates and runs on this engine (Node 20 has SIMD): the kernels are in use', () => {
    const api = (globalThis as { WebAssembly?: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
    expect(api?.validate(xorModuleBytes())).toBe(true);
    expect(wasmXor()).not.toBeNull();
  });

  test('its bytes are a pure function of the code', () => {
    expect([...xorModuleBytes()]).toEqual([...xorModuleBytes()]);
  });
});

describe('wasm kernels against the JS word loops', () => {
  test('xorOf: any source count (1..3 passes), odd lengths (vector, single vector, word tails)', () => {
    const kernels = createWasmXor(0)!;
    fc.assert(
      fc.property(blocksArb(3 * MAX_WASM_SOURCES, 70), (sources) => {
        const words = sources[0]!.length;
        const js = new Uint32Array(words).fill(0xdeadbeef);
        const wasm = new Uint32Array(words).fill(0x12345678);
        xorOfJs(js, sources);
        expect(kernels.xorOf(wasm, sources)).toBe(true);
        expect([...wasm]).toEqual([...js]);
        expect(bytesOf(wasm)).toEqual(byteXor(sources, words));
      }),
      { seed: 1201, numRuns: 300 },
    );
  });

  test('xorOf through parity.ts equals the JS loops on unaligned views (asWords copies) too', () => {
    fc.assert(
      fc.property(blocksArb(12, 40), fc.nat(3), (sources, skew) => {
        const words = sources[0]!.length;
        // Views carved out of one buffer at a word offset: the kernels read them wherever they lie.
        const buffer = new Uint32Array(sources.length * (words + 3) + skew);
        const views = sources.map((s, i) => {
          const view = buffer.subarray(skew + i * (words + 3), skew + i * (words + 3) + words);
          view.set(s);
          return view;
        });
        const js = new Uint32Array(words);
        const wasm = new Uint32Array(words);
        xorOfJs(js, views);
        xorOf(wasm, views);
        expect([...wasm]).toEqual([...js]);
      }),
      { seed: 1202 },
    );
  });

  test('aliasing: a repeated source cancels; dst identical to a source reads it before writing', () => {
    const kernels = createWasmXor(1 << 16)!;
    fc.assert(
      fc.property(blocksArb(MAX_WASM_SOURCES + 3, 33), fc.nat(), fc.boolean(), (sources, pick, arena) => {
        const words = sources[0]!.length;
        // Repeating a source: it cancels out, in the same pass or in a chained one.
        const repeated = [...sources, sources[pick % sources.length]!];
        const js = new Uint32Array(words);
        const wasm = new Uint32Array(words);
        xorOfJs(js, repeated);
        kernels.xorOf(wasm, repeated);
        expect([...wasm]).toEqual([...js]);
        // dst as the first source: the JS loops allow this (dst ^= the rest); so do the kernels, with
        // dst on the heap or in place in the arena.
        const expected = byteXor(sources, words);
        const dst = arena ? kernels.block(words) : new Uint32Array(words);
        if (dst === null) return;
        dst.set(sources[0]!);
        kernels.xorOf(dst, [dst, ...sources.slice(1)]);
        expect(bytesOf(dst)).toEqual(expected);
      }),
      { seed: 1203 },
    );
  });

  test('lengths that differ are refused (dst untouched) and xorOf falls back to the JS loops', () => {
    const kernels = createWasmXor(0)!;
    const dst = new Uint32Array(8).fill(7);
    expect(kernels.xorOf(dst, [new Uint32Array(8), new Uint32Array(9)])).toBe(false);
    expect([...dst]).toEqual(new Array(8).fill(7));
    const js = new Uint32Array(8);
    const viaParity = new Uint32Array(8);
    const sources = [Uint32Array.from({ length: 8 }, (_, i) => i + 1), new Uint32Array(6).fill(3)];
    xorOfJs(js, sources);
    xorOf(viaParity, sources);
    expect([...viaParity]).toEqual([...js]);
  });

  test('no sources: xorOf zeroes dst, as the JS loops do', () => {
    const dst = new Uint32Array(5).fill(9);
    xorOf(dst, []);
    expect([...dst]).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('the arena', () => {
  test('hands out zeroed, 16-byte aligned, disjoint blocks until full, then null', () => {
    const kernels = createWasmXor(4096)!;
    const a = kernels.block(5)!;
    const b = kernels.block(3)!;
    expect(kernels.holds(a) && kernels.holds(b)).toBe(true);
    expect(kernels.holds(new Uint32Array(5))).toBe(false);
    expect(a.byteOffset % 16).toBe(0);
    expect(b.byteOffset % 16).toBe(0);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + a.byteLength);
    expect([...a, ...b].every((w) => w === 0)).toBe(true);
    // The memory is whole 64 KiB pages, so 4096 arena bytes become a page: 48 bytes used, 15 blocks
    // of 4 KiB left.
    let blocks = 0;
    while (kernels.block(1024) !== null) blocks++;
    expect(blocks).toBe(15);
    expect(kernels.block(1 << 20)).toBeNull();
  });

  test('blocks of one memory are not in place in another: they are staged like heap blocks', () => {
    const one = createWasmXor(1 << 16)!;
    const other = createWasmXor(1 << 16)!;
    const a = one.block(16)!.fill(0x0f0f0f0f);
    const b = one.block(16)!.fill(0x00ff00ff);
    const dst = other.block(16)!;
    expect(other.holds(a)).toBe(false);
    expect(other.xorOf(dst, [a, b])).toBe(true);
    expect([...dst]).toEqual(new Array(16).fill(0x0ff00ff0));
  });
});

/** A unit of `code` with random data cells (some null when `holes`), from a seed. */
function unitFrom(code: ParityCode, words: number, seed: number, holes: boolean): (Uint32Array | null)[] {
  let x = seed | 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const cells: (Uint32Array | null)[] = new Array(code.rows * code.columns).fill(null);
  for (let row = 0; row < code.rows; row++)
    for (let column = 0; column < code.dataColumns; column++) {
      if (holes && next() % 3 === 0) continue;
      cells[row * code.columns + column] = Uint32Array.from({ length: words }, next);
    }
  return cells;
}

const codes: [string, ParityCode][] = [
  ['RAID-4, 3 data disks', raid4Code(3)],
  ['RAID-4, 9 data disks (two passes)', raid4Code(9)],
  ['RAID-DP, p = 5', raidDpCode(4)],
  ['RAID-DP, p = 11 (two passes)', raidDpCode(10)],
];

const same = (a: readonly (Uint32Array | null)[], b: readonly (Uint32Array | null)[]): void =>
  expect(a.map((c) => (c ? [...c] : null))).toEqual(b.map((c) => (c ? [...c] : null)));

describe('encoding on the wasm kernels equals encoding on the JS loops', () => {
  test.each(codes)('encode, all or some equations, with null members: %s', (_, code) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        fc.boolean(),
        fc.array(fc.boolean(), { minLength: code.equations.length, maxLength: code.equations.length }),
        fc.boolean(),
        (words, seed, holes, which, all) => {
          const js = unitFrom(code, words, seed, holes);
          const wasm = unitFrom(code, words, seed, holes);
          encode(code, js, all ? undefined : which, null);
          encode(code, wasm, all ? undefined : which);
          same(wasm, js);
        },
      ),
      { seed: 1204, numRuns: 60 },
    );
  });

  test.each(codes)('encodeInto, blocks in the arena (in place), on the heap, or mixed: %s', (_, code) => {
    // One memory for every run (each takes fresh blocks): a memory reserves much address space.
    const runs = 40;
    const kernels = createWasmXor(runs * code.rows * code.columns * align16(40 * 4))!;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        fc.boolean(),
        fc.constantFrom('arena', 'heap', 'mixed'),
        (words, seed, holes, where) => {
          const expected = unitFrom(code, words, seed, holes);
          encode(code, expected, undefined, null);
          // encode's "no members, no parity" (null) is a zeroed block for encodeInto.
          code.equations.forEach((eq) => {
            expected[eq.parity] ??= new Uint32Array(words);
          });
          const cells = unitFrom(code, words, seed, holes).map((c, i) => {
            const arena = where === 'arena' || (where === 'mixed' && i % 2 === 0);
            // Past the runs planned for (a shrink reruns), the arena is full: heap blocks then.
            const block = (arena ? kernels.block(words) : null) ?? new Uint32Array(words);
            block.fill(0xdeadbeef);
            if (c) block.set(c);
            return c || code.equations.some((eq) => eq.parity === i) ? block : null;
          });
          encodeInto(code, cells, kernels);
          same(cells, expected);
          const js = unitFrom(code, words, seed, holes).map((c, i) =>
            code.equations.some((eq) => eq.parity === i) ? new Uint32Array(words).fill(1) : c,
          );
          encodeInto(code, js, null);
          same(js, expected);
        },
      ),
      { seed: 1205, numRuns: runs },
    );
  });

  test('a unit larger than scratch restarts the batch; an equation larger than scratch falls back', () => {
    // RAID-DP p = 11 with 64 KiB blocks: 10 x 12 cells, 7.5 MiB, past the scratch many times over.
    const code = raidDpCode(10);
    const js = unitFrom(code, 16384, 7, false);
    const wasm = unitFrom(code, 16384, 7, false);
    encode(code, js, undefined, null);
    encode(code, wasm);
    same(wasm, js);
    // The same unit into heap parity blocks: encodeInto's batch restarts too.
    const into = unitFrom(code, 16384, 7, false);
    for (const eq of code.equations) into[eq.parity] = new Uint32Array(16384);
    encodeInto(code, into);
    same(into, js);
    // RAID-4 with 9 blocks of 256 KiB: one equation alone needs 2.5 MiB of scratch.
    const wide = raid4Code(9);
    const jsWide = unitFrom(wide, 65536, 8, false);
    const wasmWide = unitFrom(wide, 65536, 8, false);
    encode(wide, jsWide, undefined, null);
    encode(wide, wasmWide);
    same(wasmWide, jsWide);
    const dst = new Uint32Array(65536);
    const expected = new Uint32Array(65536);
    xorOfJs(expected, jsWide.slice(0, 9) as Uint32Array[]);
    xorOf(dst, jsWide.slice(0, 9) as Uint32Array[]);
    expect(dst.every((w, i) => w === expected[i])).toBe(true);
  });

  test('encodeInto refuses a parity cell with no block to write into', () => {
    const code = raid4Code(2);
    expect(() => encodeInto(code, [new Uint32Array(4), new Uint32Array(4), null])).toThrow(/parity cell 2/);
  });
});

function align16(bytes: number): number {
  return (bytes + 15) & ~15;
}
