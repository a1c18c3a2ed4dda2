// Tests of the destination's log file on a RAID-4 group: round trips, the ring over several laps, the
// append outcomes, recovery after a power cut at every media write (torn or whole), and fast-check
// runs of command sequences, with and without a cut, against a plain array reference.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import type { Disk } from '../harness/media/disk.ts';
import { ConfigError, PowerLoss } from '../harness/media/errors.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { Power } from '../harness/media/power.ts';
import { VolumeError } from './errors.ts';
import { type AppendOutcome, LogFile, type LogRecord } from './log_file.ts';
import { assembleRaidGroup, createRaidGroup, type RaidGroup } from './raid.ts';

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

function formatted(): { raid: RaidGroup; log: LogFile } {
  const raid = createRaidGroup(GEOMETRY, { power: new Power() });
  return { raid, log: LogFile.format(raid, { source: 'filer-a' }) };
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
