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
