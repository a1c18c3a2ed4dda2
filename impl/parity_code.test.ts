// Tests of parity_code.ts on small codes written out by hand: the equations a code is made of, which
// parity a write touches, encoding (one batch, restarted batches, the JS loops) and reconstruction by
// peeling, with the reads it makes and the reconstructions its stored checksums refuse.

import { describe, expect, test, vi } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import { asBytes, xorOfJs } from './parity.ts';
import {
  affectedEquations,
  encode,
  encodeInto,
  makeCode,
  type ParityCode,
  reconstruct,
  type UnitCells,
} from './parity_code.ts';
import { createWasmXor, WasmXor, wasmXor, xorModuleBytes } from './parity_wasm.ts';
import { raidDpCode } from './raid_dp.ts';
import { raid4Code } from './raid4.ts';

/** Deterministic words from a seed (xorshift32). */
function wordsFrom(seed: number, length: number): Uint32Array {
  let x = seed | 1;
  return Uint32Array.from({ length }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  });
}

const xor = (...blocks: Uint32Array[]): number[] => {
  const out = new Uint32Array(blocks[0]!.length);
  xorOfJs(out, blocks);
  return [...out];
};

const listOf = (cells: readonly (Uint32Array | null)[]): (number[] | null)[] =>
  cells.map((c) => (c ? [...c] : null));

/**
 * Two rows of two data cells (0, 1 and 4, 5), a row parity each (2, 6) and a parity over the row
 * parities (3 = 2 ^ 6): its last equation reads cells that earlier equations compute.
 */
function chained(): ParityCode {
  return makeCode({ name: 'chained', tolerance: 1, columns: 4, dataColumns: 2, rows: 2 }, [
    { parity: 2, members: [0, 1] },
    { parity: 6, members: [4, 5] },
    { parity: 3, members: [2, 6] },
  ]);
}

/** Kernels with a scratch of exactly `scratchBytes` (and no arena), to reach its limits with small blocks. */
function smallKernels(scratchBytes: number): WasmXor {
  const api = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object } })
    .WebAssembly;
  return new WasmXor(api as never, new api.Module(xorModuleBytes()), scratchBytes, 0);
}

describe('makeCode', () => {
  test('keeps the shape, lists each equation with its parity first, and the equations of each cell', () => {
    const code = chained();
    expect(code.name).toBe('chained');
    expect([code.tolerance, code.columns, code.dataColumns, code.rows]).toEqual([1, 4, 2, 2]);
    expect(code.equations.map((e) => [e.parity, [...e.members], [...e.cells]])).toEqual([
      [2, [0, 1], [2, 0, 1]],
      [6, [4, 5], [6, 4, 5]],
      [3, [2, 6], [3, 2, 6]],
    ]);
    expect(code.equationsOfCell.map((e) => [...e])).toEqual([[0], [0], [0, 2], [2], [1], [1], [1, 2], []]);
  });
});

describe('affectedEquations', () => {
  test('a write changes the equations it is a member of, and through their parity the later ones', () => {
    const code = chained();
    const written = [false, true, false, false, false, false, false, false];
    expect(affectedEquations(code, written)).toEqual([true, false, true]);
    expect(affectedEquations(code, [false, false, false, false, true, false, false, false])).toEqual([
      false,
      true,
      true,
    ]);
    expect(affectedEquations(code, new Array(8).fill(false))).toEqual([false, false, false]);
    // A write of a parity cell alone changes no equation's members but its own readers.
    expect(affectedEquations(code, [false, false, false, true, false, false, false, false])).toEqual([
      false,
      false,
      false,
    ]);
    // The caller's mask is left as it was.
    expect(written).toEqual([false, true, false, false, false, false, false, false]);
  });
});

describe('encode', () => {
  const unit = (words: number): (Uint32Array | null)[] => [
    wordsFrom(1, words),
    wordsFrom(2, words),
    null,
    null,
    wordsFrom(3, words),
    wordsFrom(4, words),
    null,
    null,
  ];

  function expected(words: number): (number[] | null)[] {
    const c = unit(words);
    const p2 = xor(c[0]!, c[1]!);
    const p6 = xor(c[4]!, c[5]!);
    return [
      [...c[0]!],
      [...c[1]!],
      p2,
      xor(Uint32Array.from(p2), Uint32Array.from(p6)),
      [...c[4]!],
      [...c[5]!],
      p6,
      null,
    ];
  }

  test.each([
    ['the shared wasm kernels', undefined],
    ['the JS loops', null],
    ['a scratch that holds the unit exactly', 'exact'],
    ['a scratch one byte short of the unit (restarted batches)', 'short'],
    ['a scratch too small for any equation (the JS loops)', 'tiny'],
  ] as const)('computes each parity from data and earlier parity, on %s', (_, which) => {
    // 5 words = 20 bytes, 32 with alignment: 4 data cells and 3 results need 7 x 32 bytes in one batch.
    const kernels =
      which === 'exact'
        ? smallKernels(224)
        : which === 'short'
          ? smallKernels(223)
          : which === 'tiny'
            ? smallKernels(40)
            : which;
    const cells = unit(5);
    encode(chained(), cells, undefined, kernels);
    expect(listOf(cells)).toEqual(expected(5));
    // One batch copies the results out in one allocation; restarted batches and the JS loops do not.
    const oneBatch = which === undefined || which === 'exact';
    expect(cells[2]!.buffer === cells[3]!.buffer && cells[3]!.buffer === cells[6]!.buffer).toBe(oneBatch);
  });

  test('one batch on the wasm kernels: the new parity blocks share one allocation', () => {
    const kernels = wasmXor()!;
    const xorSpy = vi.spyOn(kernels, 'xor');
    const cells = unit(5);
    encode(chained(), cells);
    expect(xorSpy).toHaveBeenCalledTimes(3);
    xorSpy.mockRestore();
    expect(cells[2]!.buffer).toBe(cells[3]!.buffer);
    expect(cells[6]!.buffer).toBe(cells[2]!.buffer);
    expect([cells[2]!.byteOffset, cells[6]!.byteOffset, cells[3]!.byteOffset]).toEqual([0, 32, 64]);
    expect(cells[0]!.buffer).not.toBe(cells[2]!.buffer);
  });

  test('on the JS loops (kernels null) no kernel runs and each parity is a block of its own', () => {
    const kernels = wasmXor()!;
    const xorSpy = vi.spyOn(kernels, 'xor');
    const cells = unit(5);
    encode(chained(), cells, undefined, null);
    expect(xorSpy).not.toHaveBeenCalled();
    xorSpy.mockRestore();
    expect(cells[2]!.buffer).not.toBe(cells[3]!.buffer);
    expect(listOf(cells)).toEqual(expected(5));
  });

  test('only the selected equations: others keep their cell; one with no members yields null', () => {
    for (const kernels of [undefined, null, smallKernels(64)]) {
      const cells = unit(5);
      const old = Uint32Array.of(9, 9, 9, 9, 9);
      cells[2] = old;
      cells[1] = null;
      encode(chained(), cells, [false, true, true], kernels);
      expect(cells[2]).toBe(old);
      expect(listOf(cells)[6]).toEqual(expected(5)[6]);
      expect(listOf(cells)[3]).toEqual(xor(old, Uint32Array.from(expected(5)[6]!)));
      // Deltas: an equation whose members are all null says "this parity does not change".
      const delta: (Uint32Array | null)[] = new Array(8).fill(null);
      delta[2] = Uint32Array.of(1);
      delta[3] = Uint32Array.of(2);
      encode(chained(), delta, undefined, kernels);
      expect(listOf(delta)).toEqual(new Array(8).fill(null));
    }
  });

  test('blocks of different lengths in different equations are encoded each at its own length', () => {
    const code = makeCode({ name: 'two', tolerance: 1, columns: 3, dataColumns: 2, rows: 2 }, [
      { parity: 2, members: [0, 1] },
      { parity: 5, members: [3, 4] },
    ]);
    for (const kernels of [undefined, null, smallKernels(1024)]) {
      const cells = [wordsFrom(1, 4), wordsFrom(2, 4), null, wordsFrom(3, 6), wordsFrom(4, 6), null];
      encode(code, cells, undefined, kernels);
      expect([...cells[2]!]).toEqual(xor(cells[0]!, cells[1]!));
      expect([...cells[5]!]).toEqual(xor(cells[3]!, cells[4]!));
      // Within one equation too: the JS loops take the first member's length.
      const mixed = [wordsFrom(1, 4), wordsFrom(2, 6), null, wordsFrom(3, 6), wordsFrom(4, 6), null];
      encode(code, mixed, undefined, kernels);
      expect([...mixed[2]!]).toEqual(xor(mixed[0]!, mixed[1]!.subarray(0, 4)));
    }
  });
});

describe('encodeInto', () => {
  const unit = (words: number): (Uint32Array | null)[] => [
    wordsFrom(1, words),
    wordsFrom(2, words),
    new Uint32Array(words).fill(7),
    new Uint32Array(words).fill(7),
    wordsFrom(3, words),
    null,
    new Uint32Array(words).fill(7),
    null,
  ];

  test.each([
    ['the shared wasm kernels', undefined],
    ['the JS loops', null],
    ['a scratch that holds the unit exactly', 'exact'],
    ['a scratch one byte short (restarted batches)', 'short'],
    ['a scratch too small for any equation', 'tiny'],
  ] as const)('overwrites each parity block in place, on %s', (_, which) => {
    // 3 heap data cells and 3 heap parity cells of 32 bytes: twice 6 x 32 in one batch.
    const kernels =
      which === 'exact'
        ? smallKernels(384)
        : which === 'short'
          ? smallKernels(383)
          : which === 'tiny'
            ? smallKernels(40)
            : which;
    const cells = unit(5);
    const blocks = [cells[2], cells[3], cells[6]];
    encodeInto(chained(), cells, kernels);
    expect([cells[2], cells[3], cells[6]]).toEqual(blocks);
    expect(cells[2]).toBe(blocks[0]);
    const c = unit(5);
    const p2 = xor(c[0]!, c[1]!);
    const p6 = [...c[4]!];
    expect(listOf(cells)).toEqual([
      [...c[0]!],
      [...c[1]!],
      p2,
      xor(Uint32Array.from(p2), Uint32Array.from(p6)),
      [...c[4]!],
      null,
      p6,
      null,
    ]);
  });

  test('in the arena the parity is written where it lies: no copy out, and no members zeroes it', () => {
    const kernels = createWasmXor(1 << 16)!;
    const cells = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => {
      const block = kernels.block(5)!;
      block.set(wordsFrom(i + 1, 5));
      return block;
    }) as (Uint32Array | null)[];
    cells[4] = null;
    cells[5] = null;
    const copyTo = vi.spyOn(kernels, 'copyTo');
    const data = [cells[0]!.slice(), cells[1]!.slice()];
    encodeInto(chained(), cells, kernels);
    expect(copyTo).not.toHaveBeenCalled();
    expect([...cells[2]!]).toEqual(xor(data[0]!, data[1]!));
    expect([...cells[6]!]).toEqual([0, 0, 0, 0, 0]);
    expect([...cells[3]!]).toEqual([...cells[2]!]);
  });

  test('refuses a parity cell with no block, on the JS loops and on the kernels alike', () => {
    for (const kernels of [undefined, null, smallKernels(1024)]) {
      const cells = [
        Uint32Array.of(1),
        Uint32Array.of(2),
        null,
        Uint32Array.of(0),
        null,
        null,
        Uint32Array.of(0),
        null,
      ];
      expect(() => encodeInto(chained(), cells, kernels)).toThrow(/parity cell 2 holds a block/);
    }
  });
});

/** A unit over `cells` where `lost` cells read as missing, counting the reads `load` makes. */
function unitOf(
  stored: readonly Uint32Array[],
  lost: readonly number[],
  storedSums: (number | undefined)[] = [],
): UnitCells & { reads: number[] } {
  const reads: number[] = [];
  const cells: (Uint32Array | null)[] = stored.map(() => null);
  const lostMask = stored.map((_, i) => lost.includes(i));
  return {
    cells,
    lost: lostMask,
    storedSums,
    opaque: stored.map(() => false),
    reads,
    load: (cell) => {
      if (cells[cell] !== null || lostMask[cell]) return;
      reads.push(cell);
      cells[cell] = stored[cell]!;
    },
  };
}

function encoded(code: ParityCode, words: number): Uint32Array[] {
  const cells: (Uint32Array | null)[] = Array.from({ length: code.rows * code.columns }, (_, i) =>
    i % code.columns < code.dataColumns ? wordsFrom(i + 11, words) : null,
  );
  encode(code, cells, undefined, null);
  return cells.map((c) => c ?? new Uint32Array(words));
}

describe('reconstruct', () => {
  test('one lost cell is rebuilt from its row alone: only that row is read', () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    const unit = unitOf(stored, [7]);
    const result = reconstruct(code, unit, [7]);
    expect(result).toEqual({ solved: [7], refused: [] });
    expect([...unit.cells[7]!]).toEqual([...stored[7]!]);
    // Row 1 of p = 5 is cells 6..10 (4 data, row parity): the diagonals are never read.
    expect(unit.reads.sort((a, b) => a - b)).toEqual([6, 8, 9, 10]);
  });

  test('two lost columns are rebuilt along the chains, every lost cell of the targets', () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    const columns = code.columns;
    const lost = [0, 1, 2, 3].flatMap((r) => [r * columns + 1, r * columns + 3]);
    const unit = unitOf(stored, lost);
    const result = reconstruct(code, unit, lost);
    expect(result.refused).toEqual([]);
    expect([...result.solved].sort((a, b) => a - b)).toEqual([...lost].sort((a, b) => a - b));
    for (const c of lost) expect([...unit.cells[c]!], `cell ${c}`).toEqual([...stored[c]!]);
  });

  test('a target past what the code determines stays null; nothing is reported for it', () => {
    const code = raid4Code(3);
    const stored = encoded(code, 2);
    const unit = unitOf(stored, [0, 1]);
    expect(reconstruct(code, unit, [0])).toEqual({ solved: [], refused: [] });
    expect(unit.cells[0]).toBeNull();
    expect(unit.cells[1]).toBeNull();
  });

  test('a rebuilt cell whose stored checksum disagrees is refused, and left null', () => {
    const code = raid4Code(3);
    const stored = encoded(code, 2);
    const good = checksum(asBytes(stored[1]!));
    const refusedUnit = unitOf(stored, [1], [undefined, good ^ 1]);
    expect(reconstruct(code, refusedUnit, [1])).toEqual({ solved: [], refused: [1] });
    expect(refusedUnit.cells[1]).toBeNull();
    const verified = unitOf(stored, [1], [undefined, good]);
    expect(reconstruct(code, verified, [1])).toEqual({ solved: [1], refused: [] });
    expect([...verified.cells[1]!]).toEqual([...stored[1]!]);
  });

  test('a refused cell is not solved again by another equation, and stops the search', () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    const unit = unitOf(stored, [0], [0xbad]);
    expect(reconstruct(code, unit, [0])).toEqual({ solved: [], refused: [0] });
    expect(unit.cells[0]).toBeNull();
  });

  test('a target already known is not rebuilt; a cell not lost is read, not solved', () => {
    const code = raid4Code(3);
    const stored = encoded(code, 2);
    const unit = unitOf(stored, []);
    expect(reconstruct(code, unit, [2])).toEqual({ solved: [], refused: [] });
    expect(unit.reads).toEqual([2]);
  });
});

describe('encode and encodeInto: which kernels do the work', () => {
  /** The chained unit for encodeInto: heap data 0, 1, 4, 5 and heap parity blocks 2, 3, 6 (filled with 7s). */
  // Odd seeds: wordsFrom(s) depends on s | 1 only.
  const intoUnit = (words: number): (Uint32Array | null)[] => [
    wordsFrom(11, words),
    wordsFrom(13, words),
    new Uint32Array(words).fill(7),
    new Uint32Array(words).fill(7),
    wordsFrom(15, words),
    wordsFrom(17, words),
    new Uint32Array(words).fill(7),
    null,
  ];

  function expectedChained(cells: readonly (Uint32Array | null)[]): (number[] | null)[] {
    const zeros = new Uint32Array(cells[0]!.length);
    const p2 = xor(cells[0]!, cells[1]!);
    const p6 = xor(cells[4] ?? zeros, cells[5] ?? zeros);
    return [
      [...cells[0]!],
      [...cells[1]!],
      p2,
      xor(Uint32Array.from(p2), Uint32Array.from(p6)),
      cells[4] ? [...cells[4]] : null,
      cells[5] ? [...cells[5]] : null,
      p6,
      null,
    ];
  }

  test('encodeInto runs on the shared kernels when kernels are omitted, and on the JS loops when null', () => {
    const kernels = wasmXor()!;
    const xorSpy = vi.spyOn(kernels, 'xor');
    const shared = intoUnit(5);
    const want = expectedChained(shared);
    encodeInto(chained(), shared);
    expect(xorSpy).toHaveBeenCalledTimes(3);
    xorSpy.mockClear();
    const loops = intoUnit(5);
    encodeInto(chained(), loops, null);
    expect(xorSpy).not.toHaveBeenCalled();
    xorSpy.mockRestore();
    expect(listOf(shared)).toEqual(want);
    expect(listOf(loops)).toEqual(want);
  });

  test.each([
    ['a scratch too small for one batch but not for the equations in turn: each block staged once', 223, 4],
    ['a member that cannot be staged restarts the batch, twice', 100, 8],
  ] as const)('encode past one batch keeps every equation on the kernels: %s', (_, scratchBytes, stages) => {
    // A restart stages afresh the blocks its equation reads; no equation falls to the JS loops.
    const kernels = smallKernels(scratchBytes);
    const xorSpy = vi.spyOn(kernels, 'xor');
    const stageSpy = vi.spyOn(kernels, 'stage');
    const cells = intoUnit(5);
    cells[2] = null;
    cells[3] = null;
    cells[6] = null;
    const want = expectedChained(cells);
    encode(chained(), cells, undefined, kernels);
    expect(listOf(cells)).toEqual(want);
    expect(xorSpy).toHaveBeenCalledTimes(3);
    expect(stageSpy).toHaveBeenCalledTimes(stages);
  });

  test('encodeInto past one batch: an equation with no members zeroes its parity, which later equations read as zeros', () => {
    // Cells 4 and 5 are empty: parity 6 is zeroed and parity 3 = 2 ^ 0. A scratch of 200 bytes holds
    // each equation but not the whole unit (5 heap blocks, twice 160 bytes), so it goes equation by equation.
    for (const kernels of [undefined, smallKernels(200)]) {
      const cells = intoUnit(5);
      cells[4] = null;
      cells[5] = null;
      const want = expectedChained(cells);
      const spied = kernels ?? wasmXor()!;
      const xorSpy = vi.spyOn(spied, 'xor');
      encodeInto(chained(), cells, kernels);
      expect(listOf(cells)).toEqual(want);
      expect([...cells[6]!]).toEqual([0, 0, 0, 0, 0]);
      expect(xorSpy).toHaveBeenCalledTimes(2);
      xorSpy.mockRestore();
    }
  });

  test('encodeInto on arena blocks of two lengths works equation by equation, in place, and a mixed equation on the JS loops', () => {
    const kernels = createWasmXor(1 << 16)!;
    const lengths = [5, 5, 5, 5, 6, 6, 6, 5];
    const cells = lengths.map((words, i) => {
      const block = kernels.block(words)!;
      block.set(i % 4 < 2 ? wordsFrom(2 * i + 1, words) : new Uint32Array(words).fill(7));
      return block;
    }) as (Uint32Array | null)[];
    cells[7] = null;
    const data = cells.map((c) => (c ? c.slice() : null));
    const copyTo = vi.spyOn(kernels, 'copyTo');
    const xorSpy = vi.spyOn(kernels, 'xor');
    encodeInto(chained(), cells, kernels);
    expect(copyTo).not.toHaveBeenCalled();
    expect(xorSpy).toHaveBeenCalledTimes(2);
    const p2 = xor(data[0]!, data[1]!);
    const p6 = xor(data[4]!, data[5]!);
    expect([...cells[2]!]).toEqual(p2);
    expect([...cells[6]!]).toEqual(p6);
    // Cell 3 (5 words) = 2 ^ 6 over its own length.
    expect([...cells[3]!]).toEqual(xor(Uint32Array.from(p2), Uint32Array.from(p6.slice(0, 5))));
  });

  test('a selection of equations needs scratch for the selected results only: still one batch, one allocation', () => {
    // 5 blocks present (0, 1, 2, 4, 5) and 2 selected results: 7 x 32 bytes; all 3 results would need 8.
    const kernels = smallKernels(224);
    const cells = intoUnit(5);
    const old = Uint32Array.of(9, 9, 9, 9, 9);
    cells[2] = old;
    cells[3] = null;
    cells[6] = null;
    encode(chained(), cells, [false, true, true], kernels);
    expect(cells[2]).toBe(old);
    expect([...cells[6]!]).toEqual(xor(cells[4]!, cells[5]!));
    expect([...cells[3]!]).toEqual(xor(old, cells[6]!));
    expect(cells[3]!.buffer).toBe(cells[6]!.buffer);
  });

  test('encode of arena blocks of two lengths: each equation whose blocks agree runs on the kernels', () => {
    // Lengths differ between equations, so no single batch; the first result is reserved at scratch 0.
    const kernels = createWasmXor(1 << 16)!;
    const lengths = [5, 5, 0, 0, 6, 6, 0, 0];
    const cells = lengths.map((words, i) => {
      if (words === 0) return null;
      const block = kernels.block(words)!;
      block.set(wordsFrom(2 * i + 1, words));
      return block;
    });
    const xorSpy = vi.spyOn(kernels, 'xor');
    encode(chained(), cells, undefined, kernels);
    // Equations 2 = 0 ^ 1 and 6 = 4 ^ 5 on the kernels; 3 = 2 ^ 6 mixes 5 and 6 words: the JS loops.
    expect(xorSpy).toHaveBeenCalledTimes(2);
    expect([...cells[2]!]).toEqual(xor(cells[0]!, cells[1]!));
    expect([...cells[6]!]).toEqual(xor(cells[4]!, cells[5]!));
    expect([...cells[3]!]).toEqual(xor(cells[2]!, cells[6]!.subarray(0, 5)));
  });

  test('equation by equation, a block two equations read is staged once (RAID-DP: data on a row and a diagonal)', () => {
    // raidDpCode(2): p = 3, 4 columns, 2 rows; data 0, 1, 4, 5. Too little scratch for one batch of
    // 4 blocks and 4 results (256 bytes), enough for the equations in turn (244).
    const code = raidDpCode(2);
    const kernels = smallKernels(250);
    const stageSpy = vi.spyOn(kernels, 'stage');
    const xorSpy = vi.spyOn(kernels, 'xor');
    const cells: (Uint32Array | null)[] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
      i % 4 < 2 ? wordsFrom(2 * i + 1, 5) : null,
    );
    const want = cells.slice();
    encode(code, want, undefined, null);
    encode(code, cells, undefined, kernels);
    expect(listOf(cells)).toEqual(listOf(want));
    expect(xorSpy).toHaveBeenCalledTimes(4);
    expect(stageSpy).toHaveBeenCalledTimes(4);
  });

  test("an equation whose members differ in length runs on the JS loops, over the first member's length", () => {
    // RAID-4 over 3 data disks: one equation of three members, 6, 4 and 6 words long.
    const code = raid4Code(3);
    for (const kernels of [undefined, smallKernels(1024)]) {
      const cells = [wordsFrom(1, 6), wordsFrom(3, 4), wordsFrom(5, 6), null];
      const spied = kernels ?? wasmXor()!;
      const xorSpy = vi.spyOn(spied, 'xor');
      encode(code, cells, undefined, kernels);
      expect(xorSpy).not.toHaveBeenCalled();
      xorSpy.mockRestore();
      const want = new Uint32Array(6);
      xorOfJs(want, [cells[0]!, cells[1]!, cells[2]!]);
      expect([...cells[3]!]).toEqual([...want]);
    }
  });

  test('encodeInto into an arena parity block shorter than its members writes only that block, on the JS loops', () => {
    // RAID-4 over 2 data disks: data of 6 words, a parity block of 4, and an arena block right after it.
    const kernels = createWasmXor(1 << 16)!;
    const block = (words: number, seed: number): Uint32Array => {
      const b = kernels.block(words)!;
      b.set(wordsFrom(seed, words));
      return b;
    };
    const cells = [block(6, 1), block(6, 3), block(4, 5)];
    const next = block(4, 7);
    const nextBefore = [...next];
    const xorSpy = vi.spyOn(kernels, 'xor');
    encodeInto(raid4Code(2), cells, kernels);
    expect(xorSpy).not.toHaveBeenCalled();
    expect([...cells[2]!]).toEqual(xor(cells[0]!, cells[1]!).slice(0, 4));
    expect([...next]).toEqual(nextBefore);
  });

  test('encodeInto of a unit with no blocks at all refuses, on every kernel choice', () => {
    for (const kernels of [undefined, null, smallKernels(1024)])
      expect(() => encodeInto(chained(), new Array(8).fill(null), kernels)).toThrow(
        /parity cell 2 holds a block/,
      );
  });
});

describe('reconstruct: what it solves and reads', () => {
  // raidDpCode(4): p = 5, 6 columns (4 data, row parity 4, diagonal parity 5), 4 rows; cell (r, c) of a
  // data disk lies on diagonal (r + c) mod 5, the row parity of row r on diagonal (r + 4) mod 5.

  test('a target is solved through its own equations: a lost neighbour that is no target stays lost', () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    // Cells 7 and 8 (row 1, disks 1 and 2): row 1 has two unknowns; diagonal 3 gives cell 8 alone.
    const unit = unitOf(stored, [7, 8]);
    expect(reconstruct(code, unit, [8])).toEqual({ solved: [8], refused: [] });
    expect([...unit.cells[8]!]).toEqual([...stored[8]!]);
    expect(unit.cells[7]).toBeNull();
    // Diagonal 3: cells 3, 13, 18 and its parity 23; row 1 (two unknowns) is never read.
    expect(unit.reads.sort((a, b) => a - b)).toEqual([3, 13, 18, 23]);
  });

  test("once its row gives the target, the target's other equations are not solved for their own sake", () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    // Cell 8 alone in row 1; cell 13 (row 2, disk 1) shares diagonal 3 with it.
    const unit = unitOf(stored, [8, 13]);
    expect(reconstruct(code, unit, [8])).toEqual({ solved: [8], refused: [] });
    expect(unit.cells[13]).toBeNull();
  });

  test('a refused target and an unreachable one: the search ends, with the refusal reported once', () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    // Row 0 holds both targets 0 and 1; cell 0 is refused through its diagonal, and cell 1's
    // diagonal also holds the lost cell 11, so nothing more can be solved.
    const unit = unitOf(stored, [0, 1, 11], [0xbad]);
    expect(reconstruct(code, unit, [0, 1])).toEqual({ solved: [], refused: [0] });
    expect(unit.cells[1]).toBeNull();
  });

  test('the search stops as soon as the targets are known', () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    // Cell 7's row and diagonal each have a second unknown (8, and 2 on diagonal 2). Row 0 gives 2,
    // then diagonal 2 gives 7; diagonal 3 would give 8, but 8 is no target.
    const unit = unitOf(stored, [2, 7, 8]);
    expect(reconstruct(code, unit, [7])).toEqual({ solved: [2, 7], refused: [] });
    expect([...unit.cells[7]!]).toEqual([...stored[7]!]);
    expect(unit.cells[8]).toBeNull();
  });

  test('a refused target is not tried again by its other equations while other targets are pending', () => {
    const code = raidDpCode(4);
    const stored = encoded(code, 3);
    const unit = unitOf(stored, [0, 7, 8], [0xbad]);
    expect(reconstruct(code, unit, [0, 8])).toEqual({ solved: [8], refused: [0] });
    expect(unit.cells[0]).toBeNull();
    expect(unit.cells[7]).toBeNull();
  });

  test('a cell found lost only when it is read leaves its equation unsolved', () => {
    const code = raid4Code(3);
    const stored = encoded(code, 2);
    const unit = unitOf(stored, [0]);
    const load = unit.load;
    // Cell 1 turns out unreadable when it is loaded (a checksum mismatch found by that read).
    const lost = unit.lost;
    const guarded: UnitCells = {
      ...unit,
      load: (cell) => {
        if (cell === 1) lost[1] = true;
        else load(cell);
      },
    };
    expect(reconstruct(code, guarded, [0])).toEqual({ solved: [], refused: [] });
    expect(unit.cells[0]).toBeNull();
  });
});
