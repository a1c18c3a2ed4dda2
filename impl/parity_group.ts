// A RAID group over any XOR parity code (RAID-4, RAID-DP): VBN reads and writes, degraded service,
// latent-error repair, rebuild onto a spare, parity resync and scrub. Fault model: whole-disk failures,
// latent sector errors, torn writes and a power cut between any two disk writes (see below).
//
// More missing disks than the code tolerates take the whole group offline (every call throws
// RaidFailure). Within tolerance, a stripe that has also lost blocks to checksum mismatches is served
// as far as its rows and diagonals still determine the block, else RaidFailure; every reconstructed
// block that still has a stored checksum must match it.
//
// Write hole: a cut between a stripe's data and parity writes leaves that stripe's parity stale, and
// the last write before the cut may be torn. resyncParity closes the hole on the next assembly by
// recomputing parity from the data disks' raw contents. A torn block keeps its mismatching checksum,
// so reads refuse it while its disk lives; once parity covers its raw bytes it still helps reconstruct
// its neighbours. Limits: (1) if a data disk is already failed, its blocks exist only as parity, so
// resync leaves those stripes alone and a stripe the cut made stale has lost them; (2) a block of a
// failed disk is reconstructed (or rebuilt) with no checksum left to check it, so a torn block whose
// disk then fails comes back as its torn bytes. Only writes no committed image uses can be torn or
// stale, and the write-anywhere volume never reads those.
//
// Labels and unfinished rebuilds: every disk's last DBN, outside all stripes, holds a label saying it
// is an in-sync member of its slot. A group is formatted (labels on every present disk, in two passes)
// just before its first data write, and a spare is labelled only after its rebuild wrote its last
// block. So when a group is assembled, a disk whose label is blank in a group that some label shows
// formatted is a spare whose rebuild did not finish (a power cut in it, or a blank disk put in while
// the server was down): it is read as missing (reads reconstruct it, writes and resync skip it), and
// resyncParity first rebuilds it again, rewriting every block the spare holds, zero cells too (the cut
// may have torn one). A re-run onto a complete spare is harmless. The mark is the spare's own missing
// label, not one written on the survivors first: the spare is in its slot before the rebuild's first
// write, which a cut may tear, leaving nothing on the survivors to tell a blank spare from a member. A
// label that fails its checksum (torn, rotten) still shows a labelled member; scrub rewrites it. A
// group no label shows formatted (a cut inside the format) holds no data yet: every disk is trusted
// and the next write formats again. Limit (3): a latent error on the still-blank label of a spare
// whose rebuild was cut makes the spare look labelled; nothing tells it from a member's rotten label.

import { checksum } from '../harness/media/checksum.ts';
import type { Disk, StoredBlock } from '../harness/media/disk.ts';
import { assert, ConfigError, DiskFailed } from '../harness/media/errors.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { RaidFailure } from './errors.ts';
import { asBytes, asWords, isZero, wordsEqual, xorOf } from './parity.ts';
import {
  affectedEquations,
  encode,
  encodeInto,
  type ParityCode,
  type Reconstruction,
  reconstruct,
  type UnitCells,
} from './parity_code.ts';
import { createWasmXor, type WasmXor } from './parity_wasm.ts';
import type { RaidGroup, RaidStats, VbnBlock } from './raid.ts';
import { cellDbn, makeLayout, type Place, placeVbn, type StripeLayout, stripesHolding } from './stripe.ts';

/**
 * The stored checksum resyncParity gives a torn data block: checksum(bytes) ^ TORN_SEAL. It still
 * mismatches, so the block is never returned as data, but it tells a later reader that parity covers
 * these exact bytes, so they can help reconstruct the block's neighbours. A latent error that hits the
 * sealed block afterwards breaks the seal too (with all but 2^-32 odds) and makes it plainly bad.
 */
const TORN_SEAL = 0x5ea1_7024;

/**
 * A disk's label, its last block: "an in-sync member of slot k of a group of n disks". 'formatting' is
 * the first pass of a format, 'member' the second and every later label; a label block that verifies
 * but says neither for its slot is 'blank' (factory zeros), one that fails its checksum (torn, rotten)
 * 'unreadable'. A torn label written over factory zeros lands whole: its second half is zeros in both.
 */
type LabelState = 'formatting' | 'member';
type LabelReading = LabelState | 'blank' | 'unreadable';

const LABEL_MAGIC = 0x4c41_4244;
const LABEL_VERSION = 1;
const LABEL_STATES: readonly LabelState[] = ['formatting', 'member'];

function encodeLabel(blockBytes: number, slot: number, columns: number, state: LabelState): Uint8Array {
  const bytes = new Uint8Array(blockBytes);
  const view = new DataView(bytes.buffer);
  const words = [LABEL_MAGIC, LABEL_VERSION, slot, columns, 1 + LABEL_STATES.indexOf(state)];
  for (let i = 0; i < words.length; i++) view.setUint32(4 * i, words[i]!, true);
  return bytes;
}

function readLabel(block: StoredBlock, slot: number, columns: number): LabelReading {
  if (checksum(block.data) !== block.sum) return 'unreadable';
  const view = new DataView(block.data.buffer, block.data.byteOffset, block.data.byteLength);
  const word = (i: number) => view.getUint32(4 * i, true);
  if (word(0) !== LABEL_MAGIC || word(1) !== LABEL_VERSION || word(2) !== slot || word(3) !== columns)
    return 'blank';
  return LABEL_STATES[word(4) - 1] ?? 'blank';
}

/** One lane of one stripe, read lazily. */
interface Unit extends UnitCells {
  readonly stripe: number;
  readonly lane: number;
  /** What the disk returned for each cell read, checksum mismatch or not. */
  readonly raw: (Uint32Array | null)[];
  /** Read from its disk with a checksum mismatch: a latent error, or a write torn by a power cut. */
  readonly bad: boolean[];
}

/**
 * The blocks a stripe write's plans are computed into (deltas, new parity). A disk keeps a copy of
 * what it is given, so once a stripe's disk writes are issued its blocks are free for the next stripe
 * of any group: one pool per block size, taken from at `begin`, with nothing kept past the stripe (a
 * power cut in the middle leaves them for the next stripe to overwrite). Calls never nest: a group's
 * write runs to its end, or to a throw, before any other RAID call starts.
 *
 * The blocks live in the arena of the pool's own wasm kernels, so parity is computed where it lies
 * and only the heap blocks it is computed from (the new data, the blocks read) are copied in; past
 * the arena, and on an engine without the kernels, they are heap blocks and everything still works.
 */
class PlanBlocks {
  private readonly blocks: Uint32Array[] = [];
  private used = 0;
  readonly kernels: WasmXor | null;

  constructor(private readonly words: number) {
    this.kernels = createWasmXor(Math.min(PLAN_ARENA_BYTES, PLAN_ARENA_BLOCKS * words * 4));
  }

  begin(): void {
    this.used = 0;
  }

  /** A block of the pool's size, with whatever bytes a former plan left in it. */
  take(): Uint32Array {
    if (this.used === this.blocks.length)
      this.blocks.push(this.kernels?.block(this.words) ?? new Uint32Array(this.words));
    return this.blocks[this.used++]!;
  }
}

/**
 * A pool's arena: 1024 blocks, at most 2 MiB (512 of 4 KiB), beside the kernels' own scratch. A stripe
 * write that needs more gets heap blocks for the rest. One pool per block size a process uses.
 */
const PLAN_ARENA_BLOCKS = 1024;
const PLAN_ARENA_BYTES = 2 << 20;

const planBlocksBySize = new Map<number, PlanBlocks>();

function planBlocks(words: number): PlanBlocks {
  return getOrAdd(planBlocksBySize, words, () => new PlanBlocks(words));
}

/** What one unit of a write puts on disk: data (and repaired data) first, then parity. */
interface UnitWrite {
  readonly unit: Unit;
  readonly data: [number, Uint32Array][];
  readonly parity: [number, Uint32Array][];
  readonly repairs: number;
}

export class ParityGroup implements RaidGroup {
  readonly tolerance: number;
  readonly vbnCount: number;
  readonly blockBytes: number;
  private readonly planBlocks: PlanBlocks;
  readonly stats: RaidStats = {
    blockReads: 0,
    blockWrites: 0,
    degradedReads: 0,
    repairedBlocks: 0,
    fullStripeWrites: 0,
    partialStripeWrites: 0,
    rebuiltBlocks: 0,
    unrepairableBlocks: 0,
    sealedBlocks: 0,
  };
  private readonly layout: StripeLayout;
  private readonly slots: Disk[];
  /** Slots holding a spare whose rebuild has not finished (its label is still blank): read as missing. */
  private readonly rebuilding = new Set<number>();
  /** Every member disk carries its label: from now on a disk with a blank label is an unfinished spare. */
  private formatted = false;

  constructor(
    readonly geometry: RaidGeometry,
    private readonly code: ParityCode,
    disks: readonly Disk[],
    private readonly label: string,
  ) {
    assert(disks.length === code.columns, 'one disk per code column');
    this.tolerance = code.tolerance;
    this.blockBytes = geometry.blockBytes;
    this.planBlocks = planBlocks(geometry.blockBytes >>> 2);
    this.layout = makeLayout(code, geometry.depthBlocks, geometry.blocksPerDisk);
    if (this.layout.stripeCount === 0)
      throw new ConfigError(
        `${label}: ${geometry.blocksPerDisk} blocks per disk hold no whole stripe of ` +
          `${this.layout.stripeDbns} blocks beside the disk's label (its last block)`,
      );
    this.vbnCount = this.layout.vbnCount;
    this.slots = [...disks];
    this.readLabels();
  }

  get disks(): readonly Disk[] {
    return this.slots;
  }

  failedDisks(): number[] {
    return this.slots.flatMap((_, i) => (this.isMissing(i) ? [i] : []));
  }

  read(vbn: number): Uint8Array {
    return this.readVerified(vbn).slice();
  }

  readInto(vbn: number, out: Uint8Array): void {
    if (out.length !== this.blockBytes)
      throw new RangeError(`read VBN ${vbn} into ${out.length} bytes, expected ${this.blockBytes}`);
    out.set(this.readVerified(vbn));
  }

  write(blocks: readonly VbnBlock[]): void {
    const stripes = new Map<number, Map<number, Map<number, Uint32Array>>>();
    for (const { vbn, data } of blocks) {
      this.checkVbn(vbn);
      if (data.length !== this.blockBytes)
        throw new RangeError(`VBN ${vbn}: block of ${data.length} bytes, expected ${this.blockBytes}`);
      const place = placeVbn(this.layout, vbn);
      const lanes = getOrAdd(stripes, place.stripe, () => new Map<number, Map<number, Uint32Array>>());
      // A later block for the same VBN replaces an earlier one, as two writes in sequence would.
      getOrAdd(lanes, place.lane, () => new Map<number, Uint32Array>()).set(place.cell, asWords(data));
    }
    if (stripes.size > 0) this.checkOnline(`write ${blocks.length} blocks`);
    for (const stripe of [...stripes.keys()].sort((a, b) => a - b))
      this.writeStripe(stripe, stripes.get(stripe)!);
  }

  replaceAndRebuild(index: number, spare: Disk, options: { readonly unsafeLabelFirst?: boolean } = {}): void {
    this.checkSpare(index, spare);
    const lost = new Set([...this.failedDisks(), index]);
    if (lost.size > this.tolerance) this.offline(`rebuild disk ${index}`, [...lost]);
    this.slots[index] = spare;
    this.rebuilding.add(index);
    // CANARY (D2): the spare labelled a member first; a cut in the rebuild leaves it trusted half-written.
    if (options.unsafeLabelFirst && this.formatted) this.writeLabel(index, 'member');
    this.rebuild(index);
  }

  resyncParity(options: { readonly unsafeOverMissing?: boolean } = {}): number {
    this.checkOnline('resync parity');
    // A rebuild the shutdown interrupted is finished first (its spare's label is still blank): with
    // the spare read as missing, parity is recomputed only once the spare holds its blocks.
    for (const index of [...this.rebuilding].sort((a, b) => a - b)) this.rebuild(index);
    let rewritten = 0;
    for (const stripe of this.stripesInUse()) {
      let any = false;
      for (let lane = 0; lane < this.layout.depthBlocks; lane++)
        if (this.resyncUnit(stripe, lane, options.unsafeOverMissing === true)) any = true;
      if (any) rewritten++;
    }
    return rewritten;
  }

  scrub(): number {
    this.checkOnline('scrub');
    let repaired = 0;
    for (const stripe of this.stripesInUse())
      for (let lane = 0; lane < this.layout.depthBlocks; lane++) repaired += this.scrubUnit(stripe, lane);
    return repaired + this.scrubLabels();
  }

  // ---- reads -------------------------------------------------------------------------------------

  /**
   * The verified bytes of `vbn`, for the caller to copy, never to keep: the disk's own block, or a
   * reconstruction's. The hot path of every read: the offline message is built only when it is offline.
   */
  private readVerified(vbn: number): Uint8Array {
    this.checkVbn(vbn);
    if (this.missingCount() > this.tolerance) this.offline(`read VBN ${vbn}`, this.failedDisks());
    const place = placeVbn(this.layout, vbn);
    const block = this.readDisk(place.column, place.dbn);
    if (block && checksum(block.data) === block.sum) return block.data;
    return this.readReconstructed(vbn, place);
  }

  private readReconstructed(vbn: number, place: Place): Uint8Array {
    const unit = this.openUnit(place.stripe, place.lane);
    const degraded = this.isMissing(place.column);
    const rec = reconstruct(this.code, unit, [place.cell]);
    const value = this.dataOf(unit, place.cell);
    if (!value) throw this.stripeFailure(unit, `cannot read VBN ${vbn}`, rec);
    this.writeRepairs(unit, rec);
    if (degraded) this.stats.degradedReads++;
    return asBytes(value);
  }

  /** Rewrites every cell that was read with a bad checksum and has since been reconstructed. */
  private writeRepairs(unit: Unit, rec: Reconstruction): number {
    let repaired = 0;
    for (const cell of rec.solved) {
      if (!unit.bad[cell]) continue;
      this.writeCell(unit, cell, unit.cells[cell]!);
      repaired++;
    }
    this.stats.repairedBlocks += repaired;
    return repaired;
  }

  // ---- writes ------------------------------------------------------------------------------------

  private writeStripe(stripe: number, lanes: Map<number, Map<number, Uint32Array>>): void {
    // Every read and reconstruction of the stripe happens before its first write, so a RaidFailure
    // leaves the stripe exactly as it was.
    this.planBlocks.begin();
    const plans = [...lanes].map(([lane, written]) => this.planUnit(stripe, lane, written));
    let written = 0;
    for (const cells of lanes.values()) written += cells.size;
    if (written === this.layout.vbnsPerStripe) this.stats.fullStripeWrites++;
    else this.stats.partialStripeWrites++;
    // Data first, then parity. The data blocks are the authority resyncParity recomputes parity from,
    // so a power cut between the two leaves only stale parity, which the next assembly repairs. Parity
    // first would let a cut leave parity describing data that never landed: a later reconstruction of
    // a neighbouring block from it would return data that was never written.
    for (const plan of plans) for (const [cell, words] of plan.data) this.writeCell(plan.unit, cell, words);
    for (const plan of plans) for (const [cell, words] of plan.parity) this.writeCell(plan.unit, cell, words);
    for (const plan of plans) this.stats.repairedBlocks += plan.repairs;
  }

  private planUnit(stripe: number, lane: number, written: Map<number, Uint32Array>): UnitWrite {
    const unit = this.openUnit(stripe, lane);
    const mask = new Array<boolean>(this.layout.unitCells).fill(false);
    for (const cell of written.keys()) mask[cell] = true;
    const affected = affectedEquations(this.code, mask);
    if (!unit.lost.some(Boolean)) {
      const dataCells = this.code.rows * this.code.dataColumns;
      const affectedCount = affected.filter(Boolean).length;
      // Read-modify-write reads the old data and old parity; reconstruct-write reads the other data.
      const fast =
        written.size + affectedCount < dataCells - written.size
          ? this.planReadModifyWrite(unit, written, affected)
          : this.planReconstructWrite(unit, written, affected);
      if (fast) return fast;
    }
    return this.planDegraded(unit, written, affected);
  }

  /** New parity = old parity ^ encode(old data ^ new data); null when a read turns up a bad block. */
  private planReadModifyWrite(
    unit: Unit,
    written: Map<number, Uint32Array>,
    affected: readonly boolean[],
  ): UnitWrite | null {
    const delta: (Uint32Array | null)[] = new Array(this.layout.unitCells).fill(null);
    for (const [cell, words] of written) {
      const old = this.loaded(unit, cell);
      if (!old) return null;
      const d = this.planBlocks.take();
      xorOf(d, [old, words], this.planBlocks.kernels);
      delta[cell] = d;
    }
    const parity: [number, Uint32Array][] = [];
    for (const eq of this.affectedList(affected)) {
      const old = this.loaded(unit, eq.parity);
      if (!old) return null;
      parity.push([eq.parity, old]);
    }
    // Every equation, the unaffected ones coming out zero, computed in place in the pool's arena;
    // `encode` of the affected ones alone would copy its results out into a new allocation.
    for (const eq of this.code.equations) delta[eq.parity] = this.planBlocks.take();
    encodeInto(this.code, delta, this.planBlocks.kernels);
    for (const entry of parity) {
      const d = delta[entry[0]];
      assert(d, 'affected parity has a delta');
      const next = this.planBlocks.take();
      xorOf(next, [entry[1], d], this.planBlocks.kernels);
      entry[1] = next;
    }
    return { unit, data: [...written], parity, repairs: 0 };
  }

  /** Parity recomputed from the new data and the other data blocks; null when a read turns up a bad block. */
  private planReconstructWrite(
    unit: Unit,
    written: Map<number, Uint32Array>,
    affected: readonly boolean[],
  ): UnitWrite | null {
    const cells: (Uint32Array | null)[] = new Array(this.layout.unitCells).fill(null);
    for (const cell of this.dataCells()) {
      const value = written.get(cell) ?? this.loaded(unit, cell);
      if (!value) return null;
      cells[cell] = value;
    }
    for (const eq of this.code.equations) cells[eq.parity] = this.planBlocks.take();
    encodeInto(this.code, cells, this.planBlocks.kernels);
    const parity = this.affectedList(affected).map((eq): [number, Uint32Array] => [
      eq.parity,
      cells[eq.parity]!,
    ]);
    return { unit, data: [...written], parity, repairs: 0 };
  }

  /**
   * A disk is missing or a block is bad: reconstruct every data block the write keeps, then encode
   * the whole unit. Blocks that were bad are rewritten too; the missing disks are skipped, and their
   * content stays reconstructible from the new parity.
   */
  private planDegraded(
    unit: Unit,
    written: Map<number, Uint32Array>,
    affected: readonly boolean[],
  ): UnitWrite {
    const kept = this.dataCells().filter((c) => !written.has(c));
    const rec = reconstruct(this.code, unit, kept);
    if (kept.some((c) => !unit.cells[c])) throw this.stripeFailure(unit, 'cannot write', rec);
    const cells: (Uint32Array | null)[] = new Array(this.layout.unitCells).fill(null);
    for (const cell of this.dataCells()) cells[cell] = written.get(cell) ?? unit.cells[cell]!;
    encode(this.code, cells);
    // An opaque block (torn, already covered by parity) keeps its bytes and its mismatching checksum.
    const repaired = kept.filter((c) => unit.bad[c] && !unit.opaque[c]);
    const data: [number, Uint32Array][] = [
      ...written,
      ...repaired.map((c): [number, Uint32Array] => [c, cells[c]!]),
    ];
    const parity: [number, Uint32Array][] = [];
    this.code.equations.forEach((eq, i) => {
      if (affected[i] || unit.bad[eq.parity]) parity.push([eq.parity, cells[eq.parity]!]);
    });
    const badParity = this.code.equations.filter((eq) => unit.bad[eq.parity]).length;
    return { unit, data, parity, repairs: repaired.length + badParity };
  }

  // ---- rebuild, resync, scrub --------------------------------------------------------------------

  /**
   * Rebuilds slot `index` (read as missing meanwhile) onto the disk now in it, then labels that disk:
   * the label is its last write, so a cut anywhere before leaves the rebuild to be finished.
   */
  private rebuild(index: number): void {
    const spare = this.slots[index]!;
    // A spare that failed is a failed disk like any other, replaced by the next spare.
    if (spare.isFailed) {
      this.rebuilding.delete(index);
      return;
    }
    // A re-run finds the spare partly written: every block it holds is rewritten, zeros included.
    const held = new Set(spare.storedDbns());
    const dbns = [...held];
    this.slots.forEach((disk, i) => {
      if (i !== index && !this.isMissing(i)) dbns.push(...disk.storedDbns());
    });
    for (const stripe of stripesHolding(this.layout, dbns))
      for (let lane = 0; lane < this.layout.depthBlocks; lane++) this.rebuildUnit(stripe, lane, index, held);
    // An unformatted group holds no data: its next write labels every disk, this one included.
    if (this.formatted) this.writeLabel(index, 'member');
    this.rebuilding.delete(index);
  }

  private rebuildUnit(stripe: number, lane: number, index: number, held: ReadonlySet<number>): void {
    const unit = this.openUnit(stripe, lane);
    const targets = Array.from({ length: this.code.rows }, (_, row) => row * this.code.columns + index);
    const rec = reconstruct(this.code, unit, targets);
    if (targets.some((c) => !this.dataOf(unit, c)))
      throw this.stripeFailure(unit, `cannot rebuild disk ${index}`, rec);
    this.writeRepairs(unit, rec);
    const spare = this.slots[index]!;
    for (const cell of targets) {
      const words = unit.cells[cell]!;
      const dbn = cellDbn(this.layout, stripe, lane, cell);
      // A block the spare never held already reads as zeros with a valid checksum.
      if (isZero(words) && !held.has(dbn)) continue;
      if (!this.formatted) this.format();
      const bytes = asBytes(words);
      spare.write(dbn, bytes, checksum(bytes));
      this.stats.blockWrites++;
      this.stats.rebuiltBlocks++;
    }
  }

  /** Recomputes the unit's parity from its data; true when some parity block was rewritten. */
  private resyncUnit(stripe: number, lane: number, overMissing: boolean): boolean {
    const unit = this.openUnit(stripe, lane);
    const dataCells = this.dataCells();
    // A missing data disk exists only as parity here: recomputing parity would erase it.
    // CANARY (D6): overMissing recomputes it anyway, as if the missing blocks were zeros.
    if (dataCells.some((c) => unit.lost[c]) && !overMissing) return false;
    for (const cell of dataCells) unit.load(cell);
    // A bad data block is repaired if the old parity reproduces its checksum (a latent error in a
    // stripe the cut did not touch). Otherwise the cut tore it: the new parity covers its raw bytes
    // and it is sealed as torn, unreadable as data until it is overwritten.
    const bad = dataCells.filter((c) => unit.bad[c]);
    reconstruct(this.code, unit, bad);
    const cells: (Uint32Array | null)[] = new Array(this.layout.unitCells).fill(null);
    for (const cell of dataCells) cells[cell] = unit.cells[cell] ?? unit.raw[cell]!;
    encode(this.code, cells);
    for (const cell of bad) {
      const words = cells[cell]!;
      const bytes = asBytes(words);
      const solved = unit.cells[cell] !== null;
      this.writeCell(unit, cell, words, solved ? checksum(bytes) : (checksum(bytes) ^ TORN_SEAL) >>> 0);
      if (solved) this.stats.repairedBlocks++;
      else this.stats.sealedBlocks++;
    }
    let changed = false;
    for (const eq of this.code.equations) {
      if (this.isMissing(eq.parity % this.code.columns)) continue;
      unit.load(eq.parity);
      const old = unit.raw[eq.parity];
      const next = cells[eq.parity]!;
      if (old && !unit.bad[eq.parity] && wordsEqual(old, next)) continue;
      this.writeCell(unit, eq.parity, next);
      changed = true;
    }
    return changed;
  }

  /** Rewrites every present member's label that fails its checksum (torn or rotten). */
  private scrubLabels(): number {
    const bad = this.slots.flatMap((_, i) =>
      !this.isMissing(i) && this.labelAt(i) === 'unreadable' ? [i] : [],
    );
    if (bad.length === 0) return 0;
    // Unformatted (a cut inside the format): formatting again rewrites every label.
    if (!this.formatted) this.format();
    else for (const i of bad) this.writeLabel(i, 'member');
    this.stats.repairedBlocks += bad.length;
    return bad.length;
  }

  private scrubUnit(stripe: number, lane: number): number {
    const unit = this.openUnit(stripe, lane);
    for (let cell = 0; cell < this.layout.unitCells; cell++) unit.load(cell);
    const bad = unit.bad.flatMap((isBad, cell) => (isBad ? [cell] : []));
    if (bad.length === 0) return 0;
    const rec = reconstruct(this.code, unit, bad);
    this.stats.unrepairableBlocks += bad.filter((c) => !this.dataOf(unit, c)).length;
    return this.writeRepairs(unit, rec);
  }

  // ---- cells and disks ---------------------------------------------------------------------------

  private openUnit(stripe: number, lane: number): Unit {
    const n = this.layout.unitCells;
    const tried = new Array<boolean>(n).fill(false);
    const unit: Unit = {
      stripe,
      lane,
      cells: new Array(n).fill(null),
      lost: new Array(n).fill(false),
      storedSums: new Array(n).fill(undefined),
      raw: new Array(n).fill(null),
      opaque: new Array(n).fill(false),
      bad: new Array(n).fill(false),
      load: (cell) => this.loadCell(unit, tried, cell),
    };
    for (let cell = 0; cell < n; cell++) {
      if (!this.isMissing(cell % this.code.columns)) continue;
      unit.lost[cell] = true;
      tried[cell] = true;
    }
    return unit;
  }

  private loadCell(unit: Unit, tried: boolean[], cell: number): void {
    if (tried[cell]) return;
    tried[cell] = true;
    const block = this.readDisk(cell % this.code.columns, cellDbn(this.layout, unit.stripe, unit.lane, cell));
    if (!block) {
      unit.lost[cell] = true;
      return;
    }
    const words = asWords(block.data);
    unit.raw[cell] = words;
    const sum = checksum(block.data);
    if (sum === block.sum) {
      unit.cells[cell] = words;
      return;
    }
    if ((sum ^ TORN_SEAL) >>> 0 === block.sum) {
      unit.cells[cell] = words;
      unit.opaque[cell] = true;
      return;
    }
    unit.lost[cell] = true;
    unit.bad[cell] = true;
    unit.storedSums[cell] = block.sum;
  }

  /** The content of `cell` if it is good data (read or reconstructed and verified), else null. */
  private dataOf(unit: Unit, cell: number): Uint32Array | null {
    return unit.opaque[cell] ? null : (unit.cells[cell] ?? null);
  }

  /** The verified content of `cell`, reading it if needed; null when it is lost. */
  private loaded(unit: Unit, cell: number): Uint32Array | null {
    unit.load(cell);
    return unit.cells[cell] ?? null;
  }

  /** A disk block, or null when the disk is missing (failed, or a spare still being rebuilt). */
  private readDisk(column: number, dbn: number): StoredBlock | null {
    if (this.isMissing(column)) return null;
    try {
      const block = this.slots[column]!.read(dbn);
      this.stats.blockReads++;
      return block;
    } catch (e) {
      if (e instanceof DiskFailed) return null;
      throw e;
    }
  }

  /** Writes a block with its checksum; a missing disk is skipped (parity keeps its content). */
  private writeCell(unit: Unit, cell: number, words: Uint32Array, sum?: number): void {
    const column = cell % this.code.columns;
    if (this.isMissing(column)) return;
    if (!this.formatted) this.format();
    const bytes = asBytes(words);
    try {
      const dbn = cellDbn(this.layout, unit.stripe, unit.lane, cell);
      this.slots[column]!.write(dbn, bytes, sum ?? checksum(bytes));
      this.stats.blockWrites++;
    } catch (e) {
      if (!(e instanceof DiskFailed)) throw e;
    }
  }

  // ---- labels ------------------------------------------------------------------------------------

  /**
   * Assembly: the group is formatted if some label says so; then a slot whose label is blank holds a
   * spare whose rebuild did not finish. Unformatted, every disk is trusted: no data was written yet.
   */
  private readLabels(): void {
    const readings = this.slots.map((_, i) => this.labelAt(i));
    this.formatted = readings.includes('member');
    if (!this.formatted) return;
    readings.forEach((r, i) => {
      if (r === 'blank') this.rebuilding.add(i);
    });
  }

  /** What slot `index`'s label says; null when its disk is failed. */
  private labelAt(index: number): LabelReading | null {
    const disk = this.slots[index]!;
    if (disk.isFailed) return null;
    try {
      return readLabel(disk.read(this.layout.labelDbn), index, this.code.columns);
    } catch (e) {
      if (e instanceof DiskFailed) return null;
      throw e;
    }
  }

  /**
   * Labels every present disk, before the group's first data write: first as 'formatting', then as
   * 'member'. A cut in the first pass leaves no 'member' label, so the group is still unformatted
   * (and empty); once one 'member' label is down, every present disk carries a label.
   */
  private format(): void {
    for (const state of ['formatting', 'member'] as const)
      this.slots.forEach((_, i) => {
        if (!this.isMissing(i)) this.writeLabel(i, state);
      });
    this.formatted = true;
  }

  private writeLabel(index: number, state: LabelState): void {
    const bytes = encodeLabel(this.blockBytes, index, this.code.columns, state);
    try {
      this.slots[index]!.write(this.layout.labelDbn, bytes, checksum(bytes));
    } catch (e) {
      if (!(e instanceof DiskFailed)) throw e;
    }
  }

  private isMissing(column: number): boolean {
    return this.slots[column]!.isFailed || this.rebuilding.has(column);
  }

  private dataCells(): number[] {
    const cells: number[] = [];
    for (let row = 0; row < this.code.rows; row++)
      for (let column = 0; column < this.code.dataColumns; column++)
        cells.push(row * this.code.columns + column);
    return cells;
  }

  private affectedList(affected: readonly boolean[]) {
    return this.code.equations.filter((_, i) => affected[i]);
  }

  /** Stripes where some readable disk stores a block: the rest are all zeros. */
  private stripesInUse(): number[] {
    const dbns: number[] = [];
    this.slots.forEach((disk, i) => {
      if (!this.isMissing(i)) dbns.push(...disk.storedDbns());
    });
    return stripesHolding(this.layout, dbns);
  }

  // ---- checks and errors -------------------------------------------------------------------------

  private checkVbn(vbn: number): void {
    if (!Number.isInteger(vbn) || vbn < 0 || vbn >= this.vbnCount)
      throw new RangeError(`${this.label}: no VBN ${vbn} (the group holds ${this.vbnCount})`);
  }

  private checkOnline(action: string): void {
    if (this.missingCount() > this.tolerance) this.offline(action, this.failedDisks());
  }

  /** How many slots are missing: failedDisks().length, without building the list. */
  private missingCount(): number {
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) if (this.isMissing(i)) n++;
    return n;
  }

  private offline(action: string, lost: number[]): never {
    const ids = lost.map((i) => this.slots[i]!.id).join(', ');
    throw new RaidFailure(
      `${this.label}: cannot ${action}: ${lost.length} disks lost (${ids}) but ${this.code.name} ` +
        `tolerates ${this.tolerance}; the group is offline until disks return`,
    );
  }

  private checkSpare(index: number, spare: Disk): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.slots.length)
      throw new RangeError(`${this.label}: no disk slot ${index} (the group has ${this.slots.length})`);
    const problem = this.spareProblem(index, spare);
    if (problem) throw new ConfigError(`${this.label}: spare ${spare.id} ${problem}`);
  }

  private spareProblem(index: number, spare: Disk): string | null {
    const current = this.slots[index];
    if (spare === current) return 'is the disk it would replace';
    if (this.slots.includes(spare)) return 'is already in the group';
    if (spare.isFailed) return 'has failed';
    if (spare.blockBytes !== this.blockBytes)
      return `has ${spare.blockBytes}-byte blocks, the group ${this.blockBytes}`;
    if (spare.blockCount < this.geometry.blocksPerDisk)
      return `holds ${spare.blockCount} blocks, the group needs ${this.geometry.blocksPerDisk}`;
    if (spare.blocksStored > 0) return 'is not blank';
    return null;
  }

  private stripeFailure(unit: Unit, action: string, rec: Reconstruction): RaidFailure {
    const lost: string[] = [];
    this.slots.forEach((disk, i) => {
      if (this.isMissing(i)) lost.push(`${disk.id} (missing)`);
    });
    unit.bad.forEach((isBad, cell) => {
      const dbn = cellDbn(this.layout, unit.stripe, unit.lane, cell);
      const where = `${this.slots[cell % this.code.columns]!.id} DBN ${dbn}`;
      if (isBad) lost.push(`${where} (checksum mismatch)`);
      if (unit.opaque[cell]) lost.push(`${where} (torn by a power cut)`);
    });
    const stale =
      rec.refused.length > 0 ? '; a reconstruction disagreed with its checksum (stale parity)' : '';
    return new RaidFailure(
      `${this.label}: ${action}: stripe ${unit.stripe} (lane ${unit.lane}) has lost ${lost.join(', ')}, ` +
        `more than ${this.code.name} can reconstruct${stale}`,
    );
  }
}

function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
