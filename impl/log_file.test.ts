// Tests of the destination's log file on a RAID-4 group: round trips, the ring over several laps, the
// append outcomes, recovery after a power cut at every media write (torn or whole), and fast-check
// runs of command sequences, with and without a cut, against a plain array reference; then the on-disk
// checks one planted fault or edited field at a time (superblock copies, headers, healing, u64 fields).

import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import type { Disk } from '../harness/media/disk.ts';
import { ConfigError, InvariantViolation, PowerLoss } from '../harness/media/errors.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { Power } from '../harness/media/power.ts';
import { RaidFailure, VolumeError } from './errors.ts';
import { type AppendOutcome, LogFile, type LogRecord } from './log_file.ts';
import { assembleRaidGroup, createRaidGroup, type RaidGroup } from './raid.ts';
import { raid4Code } from './raid4.ts';
import { makeLayout, placeVbn } from './stripe.ts';

const BLOCK_BYTES = 512;
/** 3 data disks x 6 blocks = 18 VBNs (each disk's 7th block is its label): two superblock copies and a ring of 8 records. */
const GEOMETRY: RaidGeometry = {
  level: 'raid4',
  dataDisks: 3,
  depthBlocks: 2,
  blocksPerDisk: 7,
  blockBytes: BLOCK_BYTES,
};
const CAPACITY = 8;

/** A block whose every word depends on (seq, lba): two records never share their data. */
function block(seq: number, lba: number): Uint8Array {
  const data = new Uint8Array(BLOCK_BYTES);
  const view = new DataView(data.buffer);
  const seed = Math.imul(seq + 1, 0x9e3779b1) ^ Math.imul(lba + 1, 0x85ebca6b);
  for (let i = 0; i < BLOCK_BYTES / 4; i++) view.setUint32(4 * i, seed ^ Math.imul(i + 1, 0x27d4eb2f), true);
  return data;
}

/** The obviously right log file: an array of live records and the truncation point. */
class ReferenceLog {
  records: LogRecord[] = [];
  truncatedSeq = 0;
  promoted = false;

  get lastSeq(): number {
    return this.truncatedSeq + this.records.length;
  }

  append(seq: number, lba: number, data: Uint8Array): AppendOutcome {
    if (seq <= this.lastSeq) return 'duplicate';
    if (seq > this.lastSeq + 1) return 'gap';
    if (this.records.length === CAPACITY) return 'full';
    this.records.push({ seq, lba, data });
    return 'appended';
  }

  truncate(upToSeq: number): void {
    if (upToSeq <= this.truncatedSeq) return;
    this.records = this.records.filter((r) => r.seq > upToSeq);
    this.truncatedSeq = upToSeq;
  }

  clone(): ReferenceLog {
    const copy = new ReferenceLog();
    copy.records = [...this.records];
    copy.truncatedSeq = this.truncatedSeq;
    copy.promoted = this.promoted;
    return copy;
  }
}

/** Everything a log file shows, as one comparable string (data by checksum; compared whole apart). */
function summary(log: LogFile | ReferenceLog): string {
  const records = log instanceof LogFile ? log.records() : log.records;
  const body = records.map((r) => `${r.seq}:${r.lba}:${checksum(r.data).toString(16)}`).join(' ');
  return `truncated ${log.truncatedSeq} last ${log.lastSeq} promoted ${log.promoted} [${body}]`;
}

function formatted(): { raid: RaidGroup; log: LogFile; power: Power } {
  const power = new Power();
  const raid = createRaidGroup(GEOMETRY, { power });
  return { raid, log: LogFile.format(raid, { source: 'filer-a' }), power };
}

/** An operation on the log file. Seqs and truncation points are relative to the state it meets. */
type Op =
  | { kind: 'append'; seqOffset: number; lba: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'promote' };

function opName(op: Op): string {
  if (op.kind === 'append')
    return `append(next${op.seqOffset >= 0 ? '+' : ''}${op.seqOffset}, lba ${op.lba})`;
  return op.kind === 'truncate' ? `truncate(last - ${op.keep})` : 'promote';
}

/** An operation with its seq or truncation point fixed by the state it meets. */
type Action =
  | { kind: 'append'; seq: number; lba: number }
  | { kind: 'truncate'; upTo: number }
  | { kind: 'promote' };

function resolve(ref: ReferenceLog, op: Op): Action {
  if (op.kind === 'append')
    return { kind: 'append', seq: Math.max(1, ref.lastSeq + 1 + op.seqOffset), lba: op.lba };
  if (op.kind === 'truncate') return { kind: 'truncate', upTo: Math.max(0, ref.lastSeq - op.keep) };
  return op;
}

/** Applies `op` to the log file, then to the reference, and checks they agree on its outcome. */
function step(log: LogFile, ref: ReferenceLog, op: Op): void {
  const action = resolve(ref, op);
  let outcome: AppendOutcome | null = null;
  if (action.kind === 'append') outcome = log.append(action.seq, action.lba, block(action.seq, action.lba));
  else if (action.kind === 'truncate') log.truncate(action.upTo);
  else log.markPromoted();
  expect(outcome, opName(op)).toBe(applyToReference(ref, action));
}

function append(lba: number): Op {
  return { kind: 'append', seqOffset: 0, lba };
}

function truncate(keep: number): Op {
  return { kind: 'truncate', keep };
}

/** Two laps and more of the ring, a promotion, and a truncation past the last record (a resync). */
const SCRIPT: Op[] = [
  ...[3, 9, 3, 1, 7, 2].map(append),
  truncate(2),
  ...[4, 5, 6, 8, 0].map(append), // wraps: slots 6, 7, 0, 1, 2
  truncate(1),
  { kind: 'promote' },
  ...[11, 12, 13, 14].map(append),
  truncate(-3), // a resync: seqs up to last + 3 are covered, the next expected is last + 4
  ...[20, 21, 22].map(append),
  truncate(0),
  ...[30, 31, 32, 33, 34, 35].map(append),
  truncate(4),
  ...[40, 41].map(append),
];

describe('LogFile', () => {
  it('round-trips append, truncate, promote and recover', () => {
    const { raid, log } = formatted();
    expect(log.capacityRecords).toBe(CAPACITY);
    for (let seq = 1; seq <= 5; seq++)
      expect(log.append(seq, 10 + seq, block(seq, 10 + seq))).toBe('appended');
    log.truncate(2);
    expect(log.records().map((r) => r.seq)).toEqual([3, 4, 5]);
    expect(log.recordsAfter(3).map((r) => r.seq)).toEqual([4, 5]);
    expect(log.recordsAfter(0).map((r) => r.seq)).toEqual([3, 4, 5]);
    const recovered = LogFile.recover(raid);
    expect(summary(recovered)).toBe(summary(log));
    expect(recovered.source).toBe('filer-a');
    expect(recovered.records()[0]!.data).toEqual(block(3, 13));
    expect(recovered.promoted).toBe(false);
    recovered.markPromoted();
    expect(LogFile.recover(raid).promoted).toBe(true);
    expect(recovered.append(6, 1, block(6, 1))).toBe('appended');
    expect(summary(LogFile.recover(raid))).toBe(summary(recovered));
  });

  it('wraps around the ring over several laps, and recovery never takes a stale record', () => {
    const { raid, log } = formatted();
    const ref = new ReferenceLog();
    for (let seq = 1; seq <= 5 * CAPACITY; seq++) {
      step(log, ref, append(seq % 13));
      // Keep the ring between half full and full, so that every slot is reused lap after lap.
      if (ref.records.length === CAPACITY) step(log, ref, truncate(CAPACITY / 2 - (seq % 3)));
      expect(summary(LogFile.recover(raid)), `after seq ${seq}`).toBe(summary(ref));
    }
    // Emptied at a lap boundary: the head slot holds the record of the lap before, with an old seq.
    step(log, ref, truncate(0));
    expect(summary(LogFile.recover(raid))).toBe(summary(ref));
    expect(ref.records).toEqual([]);
  });

  it("answers 'duplicate', 'gap' and 'full', and a truncation past the last record moves the next seq", () => {
    const { raid, log } = formatted();
    expect(log.append(2, 0, block(2, 0))).toBe('gap');
    for (let seq = 1; seq <= CAPACITY; seq++) expect(log.append(seq, 0, block(seq, 0))).toBe('appended');
    expect(log.append(CAPACITY + 1, 0, block(0, 0))).toBe('full');
    expect(log.append(CAPACITY, 0, block(0, 0))).toBe('duplicate');
    log.truncate(3);
    expect(log.append(2, 0, block(0, 0))).toBe('duplicate'); // truncated: still re-acknowledged
    expect(log.append(CAPACITY + 2, 0, block(0, 0))).toBe('gap');
    expect(log.append(CAPACITY + 1, 0, block(CAPACITY + 1, 0))).toBe('appended');
    log.truncate(100);
    expect(log.records()).toEqual([]);
    expect(log.lastSeq).toBe(100);
    expect(log.append(100, 0, block(0, 0))).toBe('duplicate');
    expect(log.append(102, 0, block(0, 0))).toBe('gap');
    const recovered = LogFile.recover(raid);
    expect(recovered.lastSeq).toBe(100);
    expect(recovered.append(101, 5, block(101, 5))).toBe('appended');
    expect(summary(LogFile.recover(raid))).toBe(summary(recovered));
    const writes = raid.stats.blockWrites;
    recovered.truncate(50); // already truncated: nothing to write
    expect(raid.stats.blockWrites).toBe(writes);
  });

  it('formats over an old log file without bringing back any of its records', () => {
    const { raid, log } = formatted();
    for (let seq = 1; seq <= 4; seq++) log.append(seq, seq, block(seq, seq));
    log.markPromoted();
    const second = LogFile.format(raid, { source: 'filer-b' });
    expect(second.epoch).toBeGreaterThan(log.epoch);
    const empty = LogFile.recover(raid);
    expect(summary(empty)).toBe('truncated 0 last 0 promoted false []');
    expect(empty.source).toBe('filer-b');
    second.append(1, 9, block(1, 9));
    expect(summary(LogFile.recover(raid))).toBe(summary(second));
  });

  it('formats over a log file a crash left torn, at every media write, and the new file works', () => {
    const { raid } = formatted();
    const before = raid.disks.map((d) => d.clone(new Power()));
    const ops = SCRIPT.slice(0, 12);
    const writes = countWrites(before, ops);
    for (let k = 1; k <= writes; k++) {
      const power = new Power();
      const disks = before.map((d) => d.clone(power));
      const log = LogFile.recover(assembleRaidGroup(GEOMETRY, disks));
      power.armCut(k, true);
      const doomed = referenceOf(log);
      expect(() => {
        for (const op of ops) step(log, doomed, op);
      }, `cut ${k}`).toThrow(PowerLoss);
      power.restore();
      const group = assembleRaidGroup(GEOMETRY, disks);
      group.resyncParity();
      const fresh = LogFile.format(group, { source: 'filer-c' });
      const ref = new ReferenceLog();
      for (let seq = 1; seq <= CAPACITY + 3; seq++) {
        step(fresh, ref, append(seq));
        if (ref.records.length === CAPACITY) step(fresh, ref, truncate(2));
      }
      expect(summary(LogFile.recover(group)), `cut ${k}`).toBe(summary(ref));
      group.scrub();
      expect(group.stats.unrepairableBlocks, `cut ${k}: blocks left torn`).toBe(0);
    }
  });

  it('refuses a blank group and a source name that does not fit', () => {
    const raid = createRaidGroup(GEOMETRY, { power: new Power() });
    expect(() => LogFile.recover(raid)).toThrow(VolumeError);
    expect(() => LogFile.format(raid, { source: 'x'.repeat(BLOCK_BYTES) })).toThrow(ConfigError);
  });

  it('keeps every record with any one disk failed, and keeps appending', () => {
    const { raid, log } = formatted();
    for (let seq = 1; seq <= 6; seq++) log.append(seq, seq, block(seq, seq));
    log.truncate(2);
    for (let failed = 0; failed < raid.disks.length; failed++) {
      const disks = raid.disks.map((d) => d.clone(new Power()));
      disks[failed]!.fail();
      const degraded = LogFile.recover(assembleRaidGroup(GEOMETRY, disks));
      expect(summary(degraded), `disk ${failed} failed`).toBe(summary(log));
      expect(degraded.append(7, 7, block(7, 7))).toBe('appended');
      expect(degraded.records().at(-1)!.data).toEqual(block(7, 7));
    }
  });

  it('recovers the state before or after the interrupted operation, at every media write, torn or whole', () => {
    const { raid } = formatted();
    const before = raid.disks.map((d) => d.clone(new Power()));
    const writes = countWrites(before, SCRIPT);
    expect(writes).toBeGreaterThan(3 * SCRIPT.length);
    const outcomes = new Map<string, number>();
    for (let k = 1; k <= writes; k++) {
      for (const torn of [false, true]) {
        const outcome = crashAndRecover(before, SCRIPT, k, torn);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }
    // Sometimes-properties: the cuts really fell inside appends and truncations, each was found both
    // dropped and kept, and torn ones were healed, so the checks above cannot pass vacuously.
    const seen = [...outcomes.keys()].join('; ');
    for (const outcome of [
      'append: before',
      'append: before, healed',
      'append: after',
      'truncate: before, healed', // a truncation is lost only when its superblock write tore
      'truncate: after',
      'promote: before, healed',
    ])
      expect(outcomes.has(outcome), `${outcome} in ${seen}`).toBe(true);
  });

  it('matches an array reference over random command sequences, with recoveries', () => {
    fc.assert(
      fc.property(fc.commands(commandArbs(), { maxCommands: 40 }), (cmds) => {
        const { raid, log } = formatted();
        fc.modelRun(() => ({ model: new ReferenceLog(), real: { raid, log } }), cmds);
      }),
      { numRuns: 150, seed: 4201 },
    );
  });

  it('recovers before or after the interrupted operation for random operations and cuts', () => {
    const { raid } = formatted();
    const before = raid.disks.map((d) => d.clone(new Power()));
    fc.assert(
      fc.property(
        fc.array(opArb(), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        fc.boolean(),
        (ops, at, torn) => {
          const writes = countWrites(before, ops);
          fc.pre(writes > 0);
          crashAndRecover(before, ops, 1 + (at % writes), torn);
        },
      ),
      { numRuns: 150, seed: 4202 },
    );
  });
});

function opArb(): fc.Arbitrary<Op> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ kind: fc.constant('append'), seqOffset: fc.constant(0), lba: fc.nat(31) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('append'),
        seqOffset: fc.integer({ min: -3, max: 2 }),
        lba: fc.nat(31),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('truncate'), keep: fc.integer({ min: -3, max: CAPACITY }) }),
    },
    { weight: 1, arbitrary: fc.constant<Op>({ kind: 'promote' }) },
  );
}

/** The media writes `ops` make, run uncut on clones of `before`. */
function countWrites(before: readonly Disk[], ops: readonly Op[]): number {
  const power = new Power();
  const log = LogFile.recover(
    assembleRaidGroup(
      GEOMETRY,
      before.map((d) => d.clone(power)),
    ),
  );
  const start = power.writes;
  const ref = referenceOf(log);
  for (const op of ops) step(log, ref, op);
  return power.writes - start;
}

/** The reference of a freshly recovered log file (promoted flag and records as on disk). */
function referenceOf(log: LogFile): ReferenceLog {
  const ref = new ReferenceLog();
  ref.truncatedSeq = log.truncatedSeq;
  ref.records = log.records();
  ref.promoted = log.promoted;
  return ref;
}

/**
 * Runs `ops` on clones of `before` with the power cut after media write `k` (torn or whole), then
 * powers up, assembles the group again, resyncs parity and recovers. The log file must show exactly
 * the state before the interrupted operation or the state after it: every append that returned is
 * there, nothing corrupted or stale is, and a truncation either happened or did not. The recovered
 * file keeps working. Returns which state it was, e.g. 'append: after' or 'append: before, healed'.
 */
function crashAndRecover(before: readonly Disk[], ops: readonly Op[], k: number, torn: boolean): string {
  const power = new Power();
  const disks = before.map((d) => d.clone(power));
  const log = LogFile.recover(assembleRaidGroup(GEOMETRY, disks));
  const ref = referenceOf(log);
  power.armCut(k, torn);
  let cut: { op: Op; index: number; before: ReferenceLog } | null = null;
  for (const [index, op] of ops.entries()) {
    const prior = ref.clone();
    try {
      step(log, ref, op);
    } catch (error) {
      if (!(error instanceof PowerLoss)) throw error;
      cut = { op, index, before: prior };
      break;
    }
  }
  const where = `cut after media write ${k} (${torn ? 'torn' : 'whole'})`;
  expect(cut, `${where}: the script ran to its end`).not.toBeNull();
  const { op, index } = cut!;
  const after = cut!.before.clone();
  applyToReference(after, resolve(after, op));
  power.restore();
  const raid = assembleRaidGroup(GEOMETRY, disks);
  raid.resyncParity();
  const what = `${where} during op ${index} ${opName(op)}`;
  const healWrites = crashWhileHealing(disks, torn, what);
  const recovered = LogFile.recover(raid);
  const got = summary(recovered);
  const state = got === summary(cut!.before) ? 'before' : got === summary(after) ? 'after' : null;
  expect(
    state,
    `${what}: recovered ${got}\n  before ${summary(cut!.before)}\n  after  ${summary(after)}`,
  ).not.toBeNull();
  for (const record of recovered.records())
    expect(Buffer.from(record.data).equals(block(record.seq, record.lba)), `${what}: seq ${record.seq}`).toBe(
      true,
    );
  // Recovery rewrote the block the cut tore, so no block is left that parity cannot restore.
  raid.scrub();
  expect(raid.stats.unrepairableBlocks, `${what}: blocks left torn`).toBe(0);
  // The recovered file keeps working, and a second recovery agrees with it.
  if (recovered.append(recovered.lastSeq + 1, 1, block(recovered.lastSeq + 1, 1)) === 'full')
    recovered.truncate(recovered.lastSeq);
  expect(summary(LogFile.recover(raid)), what).toBe(summary(recovered));
  return healWrites > 0 ? `${op.kind}: ${state}, healed` : `${op.kind}: ${state}`;
}

/**
 * Recovery rewrites a block the cut tore: cut the power again at that write (on clones) and check
 * that the next recovery still shows what an undisturbed one does. Returns how many writes it made.
 */
function crashWhileHealing(disks: readonly Disk[], torn: boolean, what: string): number {
  const power = new Power();
  const undisturbed = summary(
    LogFile.recover(
      assembleRaidGroup(
        GEOMETRY,
        disks.map((d) => d.clone(power)),
      ),
    ),
  );
  const writes = power.writes;
  if (writes === 0) return 0;
  const again = new Power();
  const clones = disks.map((d) => d.clone(again));
  again.armCut(1, torn);
  expect(() => LogFile.recover(assembleRaidGroup(GEOMETRY, clones)), what).toThrow(PowerLoss);
  again.restore();
  const raid = assembleRaidGroup(GEOMETRY, clones);
  raid.resyncParity();
  expect(summary(LogFile.recover(raid)), `${what}, then a cut while healing`).toBe(undisturbed);
  return writes;
}

/** Applies a resolved operation to the reference alone; returns the append outcome. */
function applyToReference(ref: ReferenceLog, action: Action): AppendOutcome | null {
  if (action.kind === 'append') return ref.append(action.seq, action.lba, block(action.seq, action.lba));
  if (action.kind === 'truncate') ref.truncate(action.upTo);
  else ref.promoted = true;
  return null;
}

interface Real {
  raid: RaidGroup;
  log: LogFile;
}

/** One fast-check command: `check` is always true (every op is allowed in every state). */
class OpCommand implements fc.Command<ReferenceLog, Real> {
  constructor(readonly op: Op) {}
  check(): boolean {
    return true;
  }
  run(model: ReferenceLog, real: Real): void {
    step(real.log, model, this.op);
    expect(summary(real.log)).toBe(summary(model));
  }
  toString(): string {
    return opName(this.op);
  }
}

/** The destination restarts: a new instance recovers the file from the disks. */
class RecoverCommand implements fc.Command<ReferenceLog, Real> {
  check(): boolean {
    return true;
  }
  run(model: ReferenceLog, real: Real): void {
    real.log = LogFile.recover(real.raid);
    expect(summary(real.log)).toBe(summary(model));
  }
  toString(): string {
    return 'recover';
  }
}

function commandArbs(): fc.Arbitrary<fc.Command<ReferenceLog, Real>>[] {
  return [opArb().map((op) => new OpCommand(op)), fc.constant(new RecoverCommand())];
}

// ---- The on-disk checks, one at a time ------------------------------------------------------------
// These tests plant exactly one fault or one edited field and check the outcome the layout in
// log_file.ts describes: which superblock copy recovery takes, where the scan stops, which blocks
// format and recovery rewrite (and that they rewrite nothing else), and the argument checks.

const LAYOUT = makeLayout(raid4Code(GEOMETRY.dataDisks), GEOMETRY.depthBlocks, GEOMETRY.blocksPerDisk);
/**
 * The row-parity disk: with it failed, a block with a latent error cannot be rebuilt, while writes still
 * work in every row that holds no other unreadable block.
 */
const PARITY_DISK = GEOMETRY.dataDisks;
const SOURCE_ROOM = BLOCK_BYTES - 4 - 48;
const HEAD_SLOT_OFFSET = 36;

function headerVbnOf(slot: number): number {
  return 2 + 2 * slot;
}

/** Flips a byte of the block at `vbn` on its disk, behind RAID's back (a latent sector error). */
function rot(raid: RaidGroup, vbn: number): void {
  const place = placeVbn(LAYOUT, vbn);
  raid.disks[place.column]!.plantLatentError(place.dbn);
}

/** Fails the parity disk, then rots each of `vbns`: those blocks, and no others, read as RaidFailure. */
function makeUnreadable(raid: RaidGroup, ...vbns: number[]): void {
  if (!raid.disks[PARITY_DISK]!.isFailed) raid.disks[PARITY_DISK]!.fail();
  for (const vbn of vbns) rot(raid, vbn);
  for (const vbn of vbns) expect(() => raid.read(vbn), `VBN ${vbn}`).toThrow(RaidFailure);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Seals a block as log_file.ts does: its last four bytes are the checksum of the rest. */
function reseal(bytes: Uint8Array): Uint8Array {
  viewOf(bytes).setUint32(bytes.length - 4, checksum(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

/** Rewrites the block at `vbn` through RAID with `edit` applied, resealed unless `seal` is false. */
function patch(raid: RaidGroup, vbn: number, edit: (view: DataView) => void, seal = true): void {
  const bytes = raid.read(vbn);
  edit(viewOf(bytes));
  raid.write([{ vbn, data: seal ? reseal(bytes) : bytes }]);
}

function u64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 2 ** 32;
}

/** The fields of the superblock copy at `vbn`, read raw (layout in log_file.ts). */
function rawSuperblock(raid: RaidGroup, vbn: number): { epoch: number; generation: number; source: string } {
  const bytes = raid.read(vbn);
  const view = viewOf(bytes);
  expect(view.getUint32(0, true), `VBN ${vbn} holds a superblock`).toBe(0x4c4f4753);
  const length = view.getUint32(44, true);
  return {
    epoch: view.getUint32(16, true),
    generation: u64(view, 20),
    source: new TextDecoder().decode(bytes.subarray(48, 48 + length)),
  };
}

/** The fields of the record header in `slot`, read raw. */
function rawHeader(raid: RaidGroup, slot: number): { epoch: number; seq: number; slot: number } {
  const view = viewOf(raid.read(headerVbnOf(slot)));
  expect(view.getUint32(0, true), `slot ${slot} holds a header`).toBe(0x4c4f4752);
  return { epoch: view.getUint32(4, true), seq: u64(view, 8), slot: view.getUint32(24, true) };
}

/** Runs `body` and returns how many RAID writes (calls of raid.write) it made. */
function raidWrites(raid: RaidGroup, body: () => void): number {
  const spy = vi.spyOn(raid, 'write');
  try {
    body();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

/**
 * Two superblock generations on disk: generation 1 in VBN 1 (truncated 0: records 1..3) and
 * generation 2 in VBN 0 (truncated 1: records 2..3). Editing VBN 0 shows whether recovery takes it.
 */
function twoGenerations(): { raid: RaidGroup; older: string; newer: string } {
  const { raid, log } = formatted();
  for (let seq = 1; seq <= 3; seq++) log.append(seq, seq, block(seq, seq));
  const older = summary(log);
  log.truncate(1);
  return { raid, older, newer: summary(log) };
}

describe('LogFile checks', () => {
  it('refuses a seq, lba, record size or truncation point out of range, naming it', () => {
    const { raid, log } = formatted();
    const data = block(1, 1);
    for (const seq of [0, -1, 1.5, 2 ** 53, Number.NaN])
      expect(() => log.append(seq, 0, data), `seq ${seq}`).toThrow(
        new InvariantViolation('log file seq is a positive integer'),
      );
    for (const lba of [-1, 0.5, 2 ** 32, 2 ** 33])
      expect(() => log.append(1, lba, data), `lba ${lba}`).toThrow(
        new InvariantViolation('log file lba fits u32'),
      );
    expect(() => log.append(1, 0, new Uint8Array(BLOCK_BYTES - 8))).toThrow(
      new RangeError(`log file: record of ${BLOCK_BYTES - 8} bytes, expected ${BLOCK_BYTES}`),
    );
    for (const upTo of [-1, 0.5, 2 ** 53])
      expect(() => log.truncate(upTo), `truncate ${upTo}`).toThrow(
        new InvariantViolation('log file truncation seq is a safe integer'),
      );
    expect(summary(log)).toBe('truncated 0 last 0 promoted false []');
    // The largest of each is accepted and read back.
    expect(log.append(1, 2 ** 32 - 1, data)).toBe('appended');
    expect(log.recordCount).toBe(1);
    const recovered = LogFile.recover(raid);
    expect(recovered.records()[0]!.lba).toBe(2 ** 32 - 1);
    expect(recovered.recordCount).toBe(1);
  });

  it('writes nothing for a truncation to where it already is, or a second promotion', () => {
    const { raid, log } = formatted();
    expect(raidWrites(raid, () => log.truncate(0))).toBe(0);
    log.append(1, 1, block(1, 1));
    log.append(2, 2, block(2, 2));
    expect(raidWrites(raid, () => log.truncate(1))).toBe(1);
    expect(raidWrites(raid, () => log.truncate(1))).toBe(0);
    expect(raidWrites(raid, () => log.markPromoted())).toBe(1);
    expect(raidWrites(raid, () => log.markPromoted())).toBe(0);
    expect(summary(LogFile.recover(raid))).toBe(summary(log));
  });

  it('keeps seqs beyond 2^32, up to the largest safe integer, across recovery', () => {
    const { raid, log } = formatted();
    const big = 3 * 2 ** 32 + 5; // high word 3, low word 5: neither word nor its byte order may be lost
    log.truncate(big);
    expect(log.append(big + 1, 7, block(big + 1, 7))).toBe('appended');
    let recovered = LogFile.recover(raid);
    expect(recovered.truncatedSeq).toBe(big);
    expect(recovered.records().map((r) => r.seq)).toEqual([big + 1]);
    const top = Number.MAX_SAFE_INTEGER;
    recovered.truncate(top - 2);
    expect(recovered.append(top - 1, 1, block(1, 1))).toBe('appended');
    expect(recovered.append(top, 2, block(2, 2))).toBe('appended');
    recovered = LogFile.recover(raid);
    expect(recovered.truncatedSeq).toBe(top - 2);
    expect(recovered.records().map((r) => r.seq)).toEqual([top - 1, top]);
    expect(recovered.lastSeq).toBe(top);
  });

  it('works in a ring of one record, and refuses a group too small for one', () => {
    const one: RaidGeometry = {
      level: 'raid4',
      dataDisks: 1,
      depthBlocks: 1,
      blocksPerDisk: 5,
      blockBytes: 512,
    };
    const raid = createRaidGroup(one, { power: new Power() });
    expect(raid.vbnCount).toBe(4);
    const log = LogFile.format(raid, { source: 'tiny' });
    expect(log.capacityRecords).toBe(1);
    expect(log.append(1, 1, block(1, 1))).toBe('appended');
    expect(log.append(2, 2, block(2, 2))).toBe('full');
    log.truncate(1);
    expect(log.append(2, 2, block(2, 2))).toBe('appended');
    const recovered = LogFile.recover(raid);
    expect(recovered.records().map((r) => [r.seq, r.lba])).toEqual([[2, 2]]);

    const small = createRaidGroup({ ...one, blocksPerDisk: 4 }, { power: new Power() });
    expect(small.vbnCount).toBe(3);
    const refusal = new ConfigError(
      'a log file needs at least 4 VBNs (superblocks and one record); this RAID group has 3',
    );
    expect(() => LogFile.format(small, { source: 'tiny' })).toThrow(refusal);
    expect(() => LogFile.recover(small)).toThrow(refusal);
  });

  it('takes a source name that just fits its superblock, and refuses one byte more', () => {
    const { raid } = formatted();
    const longest = 'n'.repeat(SOURCE_ROOM);
    LogFile.format(raid, { source: longest });
    expect(LogFile.recover(raid).source).toBe(longest);
    expect(() => LogFile.format(raid, { source: `${longest}n` })).toThrow(
      new ConfigError(`log file: source name of ${SOURCE_ROOM + 1} bytes; a superblock holds ${SOURCE_ROOM}`),
    );
    expect(LogFile.recover(raid).source).toBe(longest);
  });

  it('recovers from the newer superblock copy only while it is valid', () => {
    const edits: [string, (view: DataView) => void, boolean][] = [
      ['magic', (v) => v.setUint32(0, 0x4c4f4752, true), true],
      ['seal', (v) => v.setUint32(28, 0, true), false], // truncatedSeq back to 0, seal left stale
      ['layout version', (v) => v.setUint32(4, 2, true), true],
      ['generation parity', (v) => v.setUint32(20, 3, true), true], // generation 3 does not belong in VBN 0
      ['source length', (v) => v.setUint32(44, SOURCE_ROOM + 1, true), true],
      ['source length', (v) => v.setUint32(44, 2 ** 32 - 1, true), true],
    ];
    for (const [field, edit, seal] of edits) {
      const { raid, older, newer } = twoGenerations();
      expect(summary(LogFile.recover(raid))).toBe(newer);
      patch(raid, 0, edit, seal);
      expect(summary(LogFile.recover(raid)), field).toBe(older);
    }
    // A source name filling all the room is still a valid copy.
    const { raid, newer } = twoGenerations();
    patch(raid, 0, (v) => v.setUint32(44, SOURCE_ROOM, true));
    const recovered = LogFile.recover(raid);
    expect(summary(recovered)).toBe(newer);
    expect(recovered.source).toBe(`filer-a${'\0'.repeat(SOURCE_ROOM - 'filer-a'.length)}`);
  });

  it('refuses a superblock formatted for another geometry, and a head slot outside the ring', () => {
    for (const [offset, value, message] of [
      [12, CAPACITY + 1, `${CAPACITY + 1} records of ${BLOCK_BYTES} bytes`],
      [8, 2 * BLOCK_BYTES, `${CAPACITY} records of ${2 * BLOCK_BYTES} bytes`],
    ] as const) {
      const { raid } = twoGenerations();
      patch(raid, 0, (v) => v.setUint32(offset, value, true));
      expect(() => LogFile.recover(raid)).toThrow(
        new ConfigError(
          `log file was formatted for ${message}; this RAID group holds ${CAPACITY} of ${BLOCK_BYTES}: ` +
            'another group, or resized',
        ),
      );
    }
    const { raid } = twoGenerations();
    patch(raid, 0, (v) => v.setUint32(HEAD_SLOT_OFFSET, CAPACITY, true));
    expect(() => LogFile.recover(raid)).toThrow(
      new InvariantViolation('superblock head slot lies in the ring'),
    );
  });

  it('ends the log at a record header with a bad magic, a stale seal or another slot', () => {
    for (const [field, edit, seal] of [
      ['magic', (v: DataView) => v.setUint32(0, 0x4c4f4753, true), true],
      ['seal', (v: DataView) => v.setUint32(16, 99, true), false], // another lba, seal left stale
      ['slot', (v: DataView) => v.setUint32(24, 5, true), true], // a block that belongs in slot 5
    ] as const) {
      const { raid, log } = formatted();
      for (let seq = 1; seq <= 3; seq++) log.append(seq, seq, block(seq, seq));
      patch(raid, headerVbnOf(1), edit, seal);
      expect(
        LogFile.recover(raid)
          .records()
          .map((r) => r.seq),
        field,
      ).toEqual([1]);
    }
  });

  it('refuses to count past a format epoch or generation that would not fit', () => {
    const { raid, log } = formatted();
    // The only copy, generation 1, in VBN 1: a format would take epoch 2^32.
    patch(raid, 1, (v) => v.setUint32(16, 2 ** 32 - 1, true));
    expect(() => LogFile.format(raid, { source: 'filer-b' })).toThrow(
      new InvariantViolation('superblock counters fit'),
    );
    patch(raid, 1, (v) => {
      v.setUint32(16, log.epoch, true);
      v.setUint32(20, 2 ** 32 - 1, true); // generation 2^53 - 1 (odd: VBN 1)
      v.setUint32(24, 2 ** 21 - 1, true);
    });
    expect(LogFile.recover(raid).epoch).toBe(log.epoch);
    expect(() => LogFile.format(raid, { source: 'filer-b' })).toThrow(
      new InvariantViolation('superblock counters fit'),
    );
  });

  it('formats a blank group without reading it, and in one RAID write', () => {
    const raid = createRaidGroup(GEOMETRY, { power: new Power() });
    const reads = vi.spyOn(raid, 'read');
    expect(raidWrites(raid, () => LogFile.format(raid, { source: 'filer-a' }))).toBe(1);
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    // Formatting again reads the old file (for its epoch) and still writes only the new superblock.
    let second: LogFile | null = null;
    expect(raidWrites(raid, () => (second = LogFile.format(raid, { source: 'filer-b' })))).toBe(1);
    expect(second!.epoch).toBe(2);
    expect(LogFile.format(raid, { source: 'filer-c' }).epoch).toBe(3);
    expect(rawSuperblock(raid, 0).source).toBe('filer-b'); // generation 2, untouched by the third format
    expect(rawSuperblock(raid, 1)).toEqual({ epoch: 3, generation: 3, source: 'filer-c' });
  });

  it('formats over one unreadable superblock copy by writing that copy alone', () => {
    const { raid } = formatted(); // generation 1 in VBN 1; VBN 0 never written
    makeUnreadable(raid, 0);
    let fresh: LogFile | null = null;
    expect(raidWrites(raid, () => (fresh = LogFile.format(raid, { source: 'filer-b' })))).toBe(1);
    expect(fresh!.epoch).toBe(2);
    expect(rawSuperblock(raid, 0)).toEqual({ epoch: 2, generation: 2, source: 'filer-b' });
    expect(rawSuperblock(raid, 1)).toEqual({ epoch: 1, generation: 1, source: 'filer-a' });
  });

  it('formats over two unreadable superblock copies: an epoch above the records, the other copy healed', () => {
    const { raid, log } = formatted();
    for (let seq = 1; seq <= 3; seq++) log.append(seq, seq, block(seq, seq));
    makeUnreadable(raid, 0, 1);
    expect(() => LogFile.recover(raid)).toThrow(RaidFailure);
    const fresh = LogFile.format(raid, { source: 'filer-b' });
    expect(fresh.epoch).toBe(log.epoch + 1); // from the records' headers: no superblock could be read
    expect(rawSuperblock(raid, 1)).toEqual({ epoch: fresh.epoch, generation: 1, source: 'filer-b' });
    expect(rawSuperblock(raid, 0)).toEqual({ epoch: fresh.epoch, generation: 0, source: 'filer-b' });
    const recovered = LogFile.recover(raid);
    expect(summary(recovered)).toBe('truncated 0 last 0 promoted false []');
    expect(recovered.source).toBe('filer-b');
  });

  it('formats over unreadable record blocks by rewriting those slots alone, as tombstones', () => {
    const { raid } = twoGenerations(); // records 1..3 in slots 0..2; generation 2 in VBN 0
    // The header of slot 0 and the data of slot 2 (format's superblock goes to VBN 1, a row apart).
    makeUnreadable(raid, headerVbnOf(0), headerVbnOf(2) + 1);
    let fresh: LogFile | null = null;
    expect(raidWrites(raid, () => (fresh = LogFile.format(raid, { source: 'filer-b' })))).toBe(3);
    for (const slot of [0, 2]) {
      expect(rawHeader(raid, slot)).toEqual({ epoch: fresh!.epoch, seq: 0, slot });
      expect(raid.read(headerVbnOf(slot) + 1)).toEqual(new Uint8Array(BLOCK_BYTES));
    }
    expect(rawHeader(raid, 1)).toEqual({ epoch: fresh!.epoch - 1, seq: 2, slot: 1 });
    expect(rawSuperblock(raid, 1)).toEqual({ epoch: fresh!.epoch, generation: 3, source: 'filer-b' });
    expect(rawSuperblock(raid, 0)).toEqual({ epoch: fresh!.epoch - 1, generation: 2, source: 'filer-a' });
    expect(summary(LogFile.recover(raid))).toBe('truncated 0 last 0 promoted false []');
  });

  it('reports an unformatted group as such, even with a record block unreadable', () => {
    const raid = createRaidGroup(GEOMETRY, { power: new Power() });
    makeUnreadable(raid, headerVbnOf(0));
    expect(() => LogFile.recover(raid)).toThrow(
      new VolumeError('log file: no valid superblock on this RAID group; format it first'),
    );
  });

  it('heals an unreadable superblock copy at recovery one generation below, and a healed copy is not healed', () => {
    const { raid, log } = formatted(); // generation 1 in VBN 1
    for (let seq = 1; seq <= 2; seq++) log.append(seq, seq, block(seq, seq));
    makeUnreadable(raid, 0);
    expect(summary(LogFile.recover(raid))).toBe(summary(log));
    expect(rawSuperblock(raid, 0)).toEqual({ epoch: log.epoch, generation: 0, source: 'filer-a' });
    // Now only the healed copy (generation 0) can be read: recovery takes it and writes nothing.
    rot(raid, 1);
    let recovered: LogFile | null = null;
    expect(raidWrites(raid, () => (recovered = LogFile.recover(raid)))).toBe(0);
    expect(summary(recovered!)).toBe(summary(log));
    expect(() => raid.read(1)).toThrow(RaidFailure);
    // The next superblock write (generation 1) lands on the unreadable copy and restores it.
    recovered!.truncate(1);
    expect(rawSuperblock(raid, 1).generation).toBe(1);
    expect(summary(LogFile.recover(raid))).toBe(summary(recovered!));
  });

  it('rewrites no superblock copy at recovery when only a record block is unreadable', () => {
    const { raid, newer } = twoGenerations();
    // Slot 0's header unreadable: the scan starts at slot 1 (truncated 1), so nothing needs healing.
    makeUnreadable(raid, headerVbnOf(0));
    let recovered: LogFile | null = null;
    expect(raidWrites(raid, () => (recovered = LogFile.recover(raid)))).toBe(0);
    expect(summary(recovered!)).toBe(newer);
  });

  it('heals an unreadable tail with a tombstone, which even the stale-lap canary does not take', () => {
    const { raid, log } = formatted();
    for (let seq = 1; seq <= 3; seq++) log.append(seq, seq, block(seq, seq));
    makeUnreadable(raid, headerVbnOf(3));
    expect(summary(LogFile.recover(raid))).toBe(summary(log));
    expect(rawHeader(raid, 3)).toEqual({ epoch: log.epoch, seq: 0, slot: 3 });
    expect(summary(LogFile.recover(raid, { unsafeTrustStaleLap: true }))).toBe(summary(log));
  });

  it('recovers what it can when RAID refuses to heal the tail', () => {
    const { raid, log } = formatted();
    for (let seq = 1; seq <= 2; seq++) log.append(seq, seq, block(seq, seq));
    // Slot 2's header rots while the data disk beside it in its row is failed: unreadable and unwritable.
    const tail = headerVbnOf(2);
    const neighbour = placeVbn(LAYOUT, tail + GEOMETRY.depthBlocks).column;
    expect(neighbour).not.toBe(placeVbn(LAYOUT, tail).column);
    raid.disks[neighbour]!.fail();
    rot(raid, tail);
    expect(() => raid.read(tail)).toThrow(RaidFailure);
    const recovered = LogFile.recover(raid);
    expect(summary(recovered)).toBe(summary(log));
    expect(() => raid.read(tail)).toThrow(RaidFailure);
  });

  it('lets a power cut during a superblock read end the recovery', () => {
    const { raid, power } = formatted();
    // VBN 0: a healed copy of generation 0. VBN 1 (generation 1) rots: reading it rewrites it from parity.
    const healed = raid.read(1);
    viewOf(healed).setUint32(20, 0, true);
    raid.write([{ vbn: 0, data: reseal(healed) }]);
    rot(raid, 1);
    power.armCut(1, false);
    expect(() => LogFile.recover(raid)).toThrow(PowerLoss);
  });

  it('takes a stale-lap record only with the canary, and records() refuses one put back in a live slot', () => {
    const { raid, log } = formatted();
    for (let seq = 1; seq <= CAPACITY; seq++) log.append(seq, seq, block(seq, seq));
    const stale = [raid.read(headerVbnOf(0)), raid.read(headerVbnOf(0) + 1)];
    log.truncate(1);
    expect(log.append(CAPACITY + 1, 1, block(CAPACITY + 1, 1))).toBe('appended');
    const live = summary(log);
    // Record 1 written back over record 9 (slot 0): same epoch and slot, whole, but an earlier lap.
    raid.write(stale.map((data, i) => ({ vbn: headerVbnOf(0) + i, data })));
    expect(() => log.records()).toThrow(
      new InvariantViolation('log file: a live record reads back as written'),
    );
    const recovered = LogFile.recover(raid);
    expect(recovered.lastSeq).toBe(CAPACITY);
    expect(summary(LogFile.recover(raid, { unsafeTrustStaleLap: false }))).toBe(summary(recovered));
    const canary = LogFile.recover(raid, { unsafeTrustStaleLap: true });
    expect(canary.lastSeq).toBe(CAPACITY + 1);
    expect(canary.records().at(-1)!.data).toEqual(block(1, 1));
    expect(live).not.toBe(summary(canary));
  });
});
