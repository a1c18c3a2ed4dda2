// An XOR parity code over one stripe unit (rows x disks cells): its equations, encoding, the parity
// a partial write touches, and reconstruction by peeling. Fault model: cells are lost (failed disk,
// checksum mismatch); a reconstructed cell that fails its stored checksum is refused, never used.

import { checksum } from '../harness/media/checksum.ts';
import { assert } from '../harness/media/errors.ts';
import { asBytes, xorOf, xorOfJs } from './parity.ts';
import { type WasmXor, wasmXor } from './parity_wasm.ts';

/** Cells are numbered row * columns + column within a unit; imaginary (all-zero) cells do not appear. */
export interface ParityEquation {
  /** The parity cell this equation defines: the XOR of `members`. */
  readonly parity: number;
  readonly members: readonly number[];
  /** `parity` and `members` together: the XOR of these cells is zero. */
  readonly cells: readonly number[];
}

export interface ParityCode {
  /** For messages: 'RAID-4', 'RAID-DP (p=5)'. */
  readonly name: string;
  readonly tolerance: number;
  /** Disks in the group: data disks first, then parity disks. */
  readonly columns: number;
  readonly dataColumns: number;
  /** Rows of cells in one unit (1 for RAID-4, p-1 for RAID-DP). */
  readonly rows: number;
  /** In encoding order: an equation's members that are parity cells are defined by earlier equations. */
  readonly equations: readonly ParityEquation[];
  /** For each cell, the indices of the equations it belongs to. */
  readonly equationsOfCell: readonly (readonly number[])[];
}

export function makeCode(
  shape: Pick<ParityCode, 'name' | 'tolerance' | 'columns' | 'dataColumns' | 'rows'>,
  equations: readonly { parity: number; members: readonly number[] }[],
): ParityCode {
  const cellCount = shape.rows * shape.columns;
  const equationsOfCell: number[][] = Array.from({ length: cellCount }, () => []);
  const full = equations.map((e, index) => {
    const cells = [e.parity, ...e.members];
    for (const c of cells) equationsOfCell[c]!.push(index);
    return { parity: e.parity, members: e.members, cells };
  });
  return { ...shape, equations: full, equationsOfCell };
}

/**
 * Computes, in encoding order, the parity cell of every equation selected by `which` (all when
 * omitted) from `cells`, storing each result in `cells` as a new block. A null member counts as zero;
 * an equation whose members are all null yields null (used for deltas: "this parity does not change").
 * `kernels`: the shared wasm kernels when omitted (the JS word loops when the engine has none); null
 * forces the JS word loops (for comparison).
 */
export function encode(
  code: ParityCode,
  cells: (Uint32Array | null)[],
  which?: readonly boolean[],
  kernels?: WasmXor | null,
): void {
  encodeUnit(code, cells, which, kernels === undefined ? wasmXor() : kernels, false);
}

/**
 * Computes every parity cell like `encode`, but into the block each parity cell already holds (the
 * caller's own buffer, overwritten), so nothing is allocated. With `kernels` made by createWasmXor and
 * every block one of its arena's, the XORs run in wasm memory in place: nothing is copied in or out.
 * `kernels` null runs the JS word loops; omitted, the shared wasm kernels (staging heap blocks).
 */
export function encodeInto(
  code: ParityCode,
  cells: readonly (Uint32Array | null)[],
  kernels?: WasmXor | null,
): void {
  encodeUnit(
    code,
    cells as (Uint32Array | null)[],
    undefined,
    kernels === undefined ? wasmXor() : kernels,
    true,
  );
}

/**
 * Both encodings. With wasm kernels, the unit is one batch: each cell's block is staged into wasm
 * memory (or found in the arena) once however many equations read it, and each result stays where it
 * was computed, so RAID-DP's diagonals read the row parity there. When the scratch fills, the batch
 * starts afresh (results are already in `cells`); an equation that cannot be staged at all, or whose
 * blocks differ in length, falls back to the JS word loops.
 */
function encodeUnit(
  code: ParityCode,
  cells: (Uint32Array | null)[],
  which: readonly boolean[] | undefined,
  kernels: WasmXor | null,
  into: boolean,
): void {
  if (kernels && !into && encodeUnitFresh(kernels, code, cells, which)) return;
  if (kernels && into && encodeUnitInto(kernels, code, cells)) return;
  const at: number[] = kernels ? new Array<number>(cells.length).fill(-1) : [];
  kernels?.begin();
  const sources: Uint32Array[] = [];
  code.equations.forEach((eq, index) => {
    if (which && !which[index]) return;
    sources.length = 0;
    for (const m of eq.members) {
      const value = cells[m];
      if (value) sources.push(value);
    }
    const dst = into ? (cells[eq.parity] ?? null) : null;
    if (into && !dst) assert(dst, `encodeInto: parity cell ${eq.parity} holds a block`);
    if (sources.length === 0) {
      if (dst) dst.fill(0);
      else cells[eq.parity] = null;
      if (kernels) at[eq.parity] = -1;
      return;
    }
    if (
      kernels &&
      (encodeWasm(kernels, eq, cells, at, dst) || encodeWasm(kernels, eq, cells, at.fill(-1), dst))
    )
      return;
    if (kernels) at[eq.parity] = -1;
    const out = dst ?? new Uint32Array(sources[0]!.length);
    xorOfJs(out, sources);
    cells[eq.parity] = out;
  });
  kernels?.begin();
}

/**
 * `encode` of a whole unit in one batch, when the scratch holds every cell and result (false, with
 * nothing changed, when it does not, or when blocks differ in length). Results are computed into one
 * region of scratch and copied out with a single allocation: the unit's new parity blocks are views of
 * one ArrayBuffer (12 blocks for RAID-DP at p = 7, one allocation instead of 12).
 */
function encodeUnitFresh(
  kernels: WasmXor,
  code: ParityCode,
  cells: (Uint32Array | null)[],
  which: readonly boolean[] | undefined,
): boolean {
  let words = -1;
  let present = 0;
  for (const c of cells) {
    if (!c) continue;
    if (words < 0) words = c.length;
    else if (c.length !== words) return false;
    present++;
  }
  if (words < 0) return false;
  const bytes = words * 4;
  const stride = (bytes + 15) & ~15;
  let selected = 0;
  for (let e = 0; e < code.equations.length; e++) if (!which || which[e]) selected++;
  if ((present + selected) * stride > kernels.scratchBytes) return false;
  kernels.begin();
  const region = kernels.reserve(selected * stride);
  // Where each cell's block lies in wasm memory in this batch: staged, in the arena, or computed.
  const at = new Array<number>(cells.length).fill(-1);
  const results: number[] = [];
  code.equations.forEach((eq, index) => {
    if (which && !which[index]) return;
    const n = stageMembers(kernels, eq.members, cells, at);
    if (n === 0) {
      cells[eq.parity] = null;
      at[eq.parity] = -1;
      return;
    }
    const out = region + results.length * stride;
    kernels.xor(out, n, bytes);
    at[eq.parity] = out;
    results.push(eq.parity);
  });
  const buffer = kernels.copyOutBuffer(region, results.length * stride);
  results.forEach((cell, slot) => {
    cells[cell] = new Uint32Array(buffer, slot * stride, words);
  });
  kernels.begin();
  return true;
}

/**
 * Puts the scratch or arena offset of each of `members`' blocks into `kernels.offsets`, staging a heap
 * block the first time the batch meets it; gives how many there are (empty cells are skipped). A
 * parity member computed earlier in the batch is found by `at` first: its cell still holds the old block.
 */
function stageMembers(
  kernels: WasmXor,
  members: readonly number[],
  cells: readonly (Uint32Array | null)[],
  at: number[],
): number {
  let n = 0;
  for (const m of members) {
    if (at[m]! < 0) {
      const value = cells[m];
      if (!value) continue;
      at[m] = kernels.stage(value);
    }
    kernels.offsets[n++] = at[m]!;
  }
  return n;
}

/**
 * `encodeInto` of a whole unit in one batch, when the scratch holds every heap cell and every heap
 * parity result (false, with nothing changed, when it does not, when blocks differ in length, or when
 * a parity cell holds no block). Arena blocks cost no scratch: a unit all in the arena is encoded in
 * place, each parity written where it lies and read there by later equations.
 */
function encodeUnitInto(kernels: WasmXor, code: ParityCode, cells: (Uint32Array | null)[]): boolean {
  let words = -1;
  let staged = 0;
  for (const c of cells) {
    if (!c) continue;
    if (words < 0) words = c.length;
    else if (c.length !== words) return false;
    if (kernels.arenaOffset(c) === undefined) staged++;
  }
  if (words < 0) return false;
  for (const eq of code.equations) if (!cells[eq.parity]) return false;
  const bytes = words * 4;
  // Heap cells staged, plus scratch for each heap parity result: at most twice the heap cells.
  if (2 * staged * ((bytes + 15) & ~15) > kernels.scratchBytes) return false;
  kernels.begin();
  const at = new Array<number>(cells.length).fill(-1);
  for (const eq of code.equations) {
    const n = stageMembers(kernels, eq.members, cells, at);
    const dst = cells[eq.parity]!;
    const inPlace = kernels.arenaOffset(dst);
    if (n === 0) {
      dst.fill(0);
      at[eq.parity] = inPlace ?? -1;
      continue;
    }
    const out = inPlace ?? kernels.reserve(bytes);
    kernels.xor(out, n, bytes);
    if (inPlace === undefined) kernels.copyTo(dst, out);
    at[eq.parity] = out;
  }
  kernels.begin();
  return true;
}

/**
 * One equation on the wasm kernels: stages the members not yet staged (recording their offsets in
 * `at`), XORs them into `dst` (in place if an arena block, else via scratch) or into a new block, and
 * records where the result lies. False when a length differs or scratch is full: the batch restarts.
 */
function encodeWasm(
  kernels: WasmXor,
  eq: ParityEquation,
  cells: (Uint32Array | null)[],
  at: number[],
  dst: Uint32Array | null,
): boolean {
  let n = 0;
  let words = -1;
  for (const m of eq.members) {
    const value = cells[m];
    if (!value) continue;
    if (words < 0) words = value.length;
    if (value.length !== words || (dst && dst.length !== words)) return false;
    if (at[m]! < 0) at[m] = kernels.stage(value);
    if (at[m]! < 0) {
      kernels.begin();
      return false;
    }
    kernels.offsets[n++] = at[m]!;
  }
  const bytes = words * 4;
  const inPlace = dst ? kernels.arenaOffset(dst) : undefined;
  const out = inPlace ?? kernels.reserve(bytes);
  if (out < 0) {
    kernels.begin();
    return false;
  }
  kernels.xor(out, n, bytes);
  if (!dst) cells[eq.parity] = kernels.copyOut(out, bytes);
  else if (inPlace === undefined) kernels.copyTo(dst, out);
  at[eq.parity] = out;
  return true;
}

/** Which equations a write of the cells marked in `written` changes (parity members propagate). */
export function affectedEquations(code: ParityCode, written: readonly boolean[]): boolean[] {
  const touched = written.slice();
  return code.equations.map((eq) => {
    const hit = eq.members.some((m) => touched[m]);
    if (hit) touched[eq.parity] = true;
    return hit;
  });
}

/** What reconstruction knows about one unit; `load` reads a cell on demand. */
export interface UnitCells {
  /** Verified contents; null while unknown. */
  readonly cells: (Uint32Array | null)[];
  /** Cells that cannot be read (missing disk, or read with a checksum mismatch). */
  readonly lost: boolean[];
  /** The stored checksum of a lost cell whose disk still holds it: reconstruction must reproduce it. */
  readonly storedSums: (number | undefined)[];
  /**
   * Cells known only as equation members, never as data: blocks torn by a power cut whose bytes
   * parity covers (sealed by a resync). Their `cells` entry is set; callers must not return them.
   */
  readonly opaque: boolean[];
  /** Reads `cell` if it was never read; afterwards it is either known or lost. */
  readonly load: (cell: number) => void;
}

export interface Reconstruction {
  /** Lost cells rebuilt (and verified where a stored checksum exists), in the order solved. */
  readonly solved: number[];
  /** Cells whose reconstruction disagreed with their stored checksum: stale parity or a torn write. */
  readonly refused: number[];
}

/**
 * Makes every cell in `targets` known if the surviving cells allow it, by peeling: an equation with
 * exactly one unknown cell gives that cell as the XOR of the others. Equations through the targets
 * are tried first, so a one-loss read costs one row. For RAID-DP and two lost disks this walks the
 * reconstruction chains of Corbett et al. (each step a diagonal, then a row); it also handles losses
 * scattered over more disks, as far as the equations determine them. Unreachable targets stay null.
 */
export function reconstruct(code: ParityCode, unit: UnitCells, targets: readonly number[]): Reconstruction {
  const result: Reconstruction = { solved: [], refused: [] };
  const refused = new Set<number>();
  const pending = (): boolean => targets.some((t) => unit.cells[t] === null && !refused.has(t));
  for (const t of targets) unit.load(t);
  const first = new Set<number>();
  for (const t of targets) for (const e of code.equationsOfCell[t]!) first.add(e);
  for (const e of first) if (pending()) solveEquation(code.equations[e]!, unit, refused, result);
  let progress = true;
  while (progress && pending()) {
    progress = false;
    for (const eq of code.equations) {
      if (!pending()) break;
      if (solveEquation(eq, unit, refused, result)) progress = true;
    }
  }
  return result;
}

/** Solves `eq` if it has exactly one unknown cell; reads the others only then. */
function solveEquation(
  eq: ParityEquation,
  unit: UnitCells,
  refused: Set<number>,
  result: Reconstruction,
): boolean {
  const unknownCount = (): number => eq.cells.filter((c) => unit.cells[c] === null && unit.lost[c]).length;
  if (unknownCount() !== 1) return false;
  for (const c of eq.cells) unit.load(c);
  const unknown = eq.cells.filter((c) => unit.cells[c] === null);
  if (unknown.length !== 1) return false;
  const target = unknown[0]!;
  if (refused.has(target)) return false;
  const sources = eq.cells.filter((c) => c !== target).map((c) => unit.cells[c]!);
  const value = new Uint32Array(sources[0]!.length);
  xorOf(value, sources);
  const sum = unit.storedSums[target];
  if (sum !== undefined && checksum(asBytes(value)) !== sum) {
    refused.add(target);
    result.refused.push(target);
    return false;
  }
  unit.cells[target] = value;
  result.solved.push(target);
  return true;
}
