// Tests of the WebAssembly SIMD XOR kernels against the JS word loops (the oracle) and a byte-by-byte
// XOR: random blocks, odd lengths, every source count, aliasing, arena blocks in place, and the staging
// limits (a unit larger than scratch, an equation larger than scratch) that fall back or restart.

import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { xorOf, xorOfJs } from './parity.ts';
import { encode, encodeInto, type ParityCode } from './parity_code.ts';
import {
  createWasmXor,
  MAX_WASM_SOURCES,
  sleb,
  uleb,
  WasmXor,
  wasmXor,
  xorModuleBytes,
} from './parity_wasm.ts';
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

  test('LEB128: unsigned and signed, one byte and several (i32.const of a wider unroll needs two)', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(0)).toEqual([0]);
    expect(sleb(4)).toEqual([0x04]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(-32)).toEqual([0x60]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-65)).toEqual([0xbf, 0x7f]);
    expect(sleb(-128)).toEqual([0x80, 0x7f]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  test('its sections: types, the memory import, functions, exports and code, each its length long', () => {
    const bytes = [...xorModuleBytes()];
    let at = 0;
    const byte = (): number => bytes[at++]!;
    const uleb = (): number => {
      let n = 0;
      for (let shift = 0; ; shift += 7) {
        const b = byte();
        n += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return n;
      }
    };
    const name = (): string => String.fromCharCode(...Array.from({ length: uleb() }, byte));
    expect(bytes.slice(0, 8)).toEqual([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    at = 8;
    const sections: [number, number[]][] = [];
    while (at < bytes.length) {
      const id = byte();
      const length = uleb();
      sections.push([id, bytes.slice(at, at + length)]);
      at += length;
    }
    expect(at).toBe(bytes.length);
    expect(sections.map(([id]) => id)).toEqual([1, 2, 3, 7, 10]);
    const read = (id: number, f: () => void): void => {
      const contents = sections.find(([i]) => i === id)![1];
      const saved = bytes.splice(0, bytes.length, ...contents);
      at = 0;
      f();
      expect(at, `section ${id} read to its end`).toBe(contents.length);
      bytes.splice(0, bytes.length, ...saved);
    };
    // Types: xorK takes dst, K sources and bytes (K + 2 i32s) and returns nothing.
    read(1, () => {
      expect(uleb()).toBe(MAX_WASM_SOURCES);
      for (let k = 1; k <= MAX_WASM_SOURCES; k++) {
        expect(byte()).toBe(0x60);
        expect(uleb()).toBe(k + 2);
        for (let p = 0; p < k + 2; p++) expect(byte()).toBe(0x7f);
        expect(uleb()).toBe(0);
      }
    });
    // One import: env.memory, a memory (kind 2) with limits "min 0, no maximum".
    read(2, () => {
      expect(uleb()).toBe(1);
      expect([name(), name(), byte(), byte(), uleb()]).toEqual(['env', 'memory', 2, 0, 0]);
    });
    read(3, () => {
      expect(uleb()).toBe(MAX_WASM_SOURCES);
      for (let j = 0; j < MAX_WASM_SOURCES; j++) expect(uleb()).toBe(j);
    });
    read(7, () => {
      expect(uleb()).toBe(MAX_WASM_SOURCES);
      for (let k = 1; k <= MAX_WASM_SOURCES; k++)
        expect([name(), byte(), uleb()]).toEqual([`xor${k}`, 0, k - 1]);
    });
    // Code: one body per function, each its stated length, ending in `end`; its locals two i32s.
    const bodies: number[][] = [];
    read(10, () => {
      expect(uleb()).toBe(MAX_WASM_SOURCES);
      for (let k = 1; k <= MAX_WASM_SOURCES; k++) {
        const length = uleb();
        bodies.push(bytes.slice(at, at + length));
        at += length;
      }
    });
    for (const body of bodies) {
      expect(body.slice(0, 3)).toEqual([1, 2, 0x7f]);
      expect(body.at(-1)).toBe(0x0b);
    }
    // xor1 in full, assembled by hand from the listing in parity_wasm.ts: params dst 0, a 1, bytes 2;
    // locals i 3, end 4. Each loop: end = bytes & mask; skip when i >= end; body; i += step; loop.
    const loop = (mask: number, step: number, body: number[]): number[] => [
      ...[0x20, 2, 0x41, mask, 0x71, 0x21, 4],
      ...[0x02, 0x40, 0x20, 3, 0x20, 4, 0x4f, 0x0d, 0],
      ...[0x03, 0x40, ...body],
      ...[0x20, 3, 0x41, step, 0x6a, 0x22, 3, 0x20, 4, 0x49, 0x0d, 0, 0x0b, 0x0b],
    ];
    const at1 = (local: number): number[] => [0x20, local, 0x20, 3, 0x6a];
    const v128 = (offset: number): number[] => [
      ...at1(0),
      ...at1(1),
      0xfd,
      0,
      4,
      offset,
      0xfd,
      11,
      4,
      offset,
    ];
    expect(bodies[0]).toEqual([
      ...[1, 2, 0x7f],
      // i32.const -32, -16, -4 and 32, 16, 4 in signed LEB128.
      ...loop(0x60, 0x20, [...v128(0), ...v128(16)]),
      ...loop(0x70, 0x10, v128(0)),
      ...loop(0x7c, 0x04, [...at1(0), ...at1(1), 0x28, 2, 0, 0x36, 2, 0]),
      0x0b,
    ]);
    // xorK's loop bodies: K loads, then K - 1 XORs (v128.xor, 0xfd 81; i32.xor, 0x73) after the first.
    for (let k = 2; k <= MAX_WASM_SOURCES; k++) {
      const body = bodies[k - 1]!;
      const text = body.join(',');
      expect(text.split(',253,81').length - 1, `xor${k} v128.xor`).toBe(3 * (k - 1));
      expect(body.filter((b, i) => b === 0x73 && body[i - 1] === 0).length, `xor${k} i32.xor`).toBe(k - 1);
    }
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

  test('the arena is exactly what was asked for, in whole pages: a block that ends at the memory fits', () => {
    const kernels = createWasmXor(1 << 16)!;
    const whole = kernels.block(1 << 14);
    expect(whole).not.toBeNull();
    expect(whole!.byteOffset + whole!.byteLength).toBe(whole!.buffer.byteLength);
    expect(kernels.block(1)).toBeNull();
    // No arena: no blocks at all.
    expect(createWasmXor(0)!.block(1)).toBeNull();
  });

  test('blocks of one memory are not in place in another: they are staged like heap blocks', () => {
    const one = createWasmXor(1 << 16)!;
    const other = createWasmXor(1 << 16)!;
    const a = one.block(16)!.fill(0x0f0f0f0f);
    const b = one.block(16)!.fill(0x00ff00ff);
    const dst = other.block(16)!;
    expect(other.holds(a)).toBe(false);
    // Sources in the arena take no scratch: the result is reserved at its start, offset 0.
    const heap = new Uint32Array(16);
    expect(one.xorOf(heap, [a, b])).toBe(true);
    expect([...heap]).toEqual(new Array(16).fill(0x0ff00ff0));
    // A destination in the arena is written in place: nothing is copied into it.
    const copyTo = vi.spyOn(one, 'copyTo');
    const inPlace = one.block(16)!;
    expect(one.xorOf(inPlace, [a, b])).toBe(true);
    expect(copyTo).not.toHaveBeenCalled();
    expect([...inPlace]).toEqual(new Array(16).fill(0x0ff00ff0));
    expect(other.xorOf(dst, [a, b])).toBe(true);
    expect([...dst]).toEqual(new Array(16).fill(0x0ff00ff0));
  });
});

/** Kernels with a scratch of exactly `scratchBytes` and no arena, to reach its limits with small blocks. */
function smallKernels(scratchBytes: number): WasmXor {
  const api = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object } })
    .WebAssembly;
  return new WasmXor(api as never, new api.Module(xorModuleBytes()), scratchBytes, 0);
}

describe('the scratch', () => {
  test('holds a RAID-DP unit of 4 KiB blocks at p = 13 (12 x 14 cells) twice', () => {
    expect(wasmXor()!.scratchBytes).toBeGreaterThanOrEqual(2 * 12 * 14 * 4096);
    expect(createWasmXor(0)!.scratchBytes).toBe(wasmXor()!.scratchBytes);
  });

  test('reserve hands out 16-byte aligned offsets up to exactly its size, then -1; begin frees it', () => {
    const kernels = smallKernels(64);
    expect(kernels.scratchBytes).toBe(64);
    expect(kernels.reserve(20)).toBe(0);
    expect(kernels.reserve(16)).toBe(32);
    expect(kernels.reserve(17)).toBe(-1);
    expect(kernels.reserve(16)).toBe(48);
    expect(kernels.reserve(1)).toBe(-1);
    kernels.begin();
    expect(kernels.reserve(64)).toBe(0);
    expect(kernels.reserve(0)).toBe(64);
    expect(kernels.reserve(1)).toBe(-1);
  });

  test('stage copies a heap block into scratch (the copies read back), or gives -1 when full', () => {
    const kernels = smallKernels(32);
    const a = Uint32Array.of(1, 2, 3);
    const b = Uint32Array.of(4, 5, 6, 7);
    expect(kernels.stage(a)).toBe(0);
    expect(kernels.stage(b)).toBe(16);
    expect(kernels.stage(Uint32Array.of(8))).toBe(-1);
    expect([...kernels.copyOut(0, 12)]).toEqual([1, 2, 3]);
    expect([...new Uint32Array(kernels.copyOutBuffer(16, 16))]).toEqual([4, 5, 6, 7]);
    const dst = new Uint32Array(2);
    kernels.copyTo(dst, 16);
    expect([...dst]).toEqual([4, 5]);
    // An arena block is not staged: the kernels find it where it lies.
    const arena = createWasmXor(1 << 16)!;
    const block = arena.block(4)!;
    expect(arena.arenaOffset(block)).toBe(block.byteOffset);
    expect(arena.stage(block)).toBe(block.byteOffset);
    expect(arena.arenaOffset(new Uint32Array(4))).toBeUndefined();
    expect(arena.reserve(16)).toBe(0);
  });

  test('xorOf refuses, dst untouched, when the scratch cannot hold the operands and the result', () => {
    const sources = [Uint32Array.of(1, 2, 3, 4), Uint32Array.of(8, 8, 8, 8)];
    const full = smallKernels(47);
    const dst = Uint32Array.of(5, 5, 5, 5);
    expect(full.xorOf(dst, sources)).toBe(false);
    expect([...dst]).toEqual([5, 5, 5, 5]);
    const tooSmallForSources = smallKernels(16);
    expect(tooSmallForSources.xorOf(dst, sources)).toBe(false);
    expect([...dst]).toEqual([5, 5, 5, 5]);
    const enough = smallKernels(48);
    expect(enough.xorOf(dst, sources)).toBe(true);
    expect([...dst]).toEqual([9, 10, 11, 12]);
    // Each xorOf is a batch of its own: the scratch is free again after one.
    expect(enough.xorOf(dst, sources)).toBe(true);
    expect(enough.reserve(48)).toBe(0);
  });

  test('xor chains passes through dst: 8 sources in one, 9 in two, 16 in three', () => {
    for (const n of [1, 7, 8, 9, 15, 16, 23]) {
      const kernels = createWasmXor(0)!;
      const sources = Array.from({ length: n }, (_, j) =>
        Uint32Array.from({ length: 13 }, (_, i) => (j + 1) << (i % 24)),
      );
      const dst = new Uint32Array(13);
      const expected = new Uint32Array(13);
      xorOfJs(expected, sources);
      expect(kernels.xorOf(dst, sources)).toBe(true);
      expect([...dst], `${n} sources`).toEqual([...expected]);
    }
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
