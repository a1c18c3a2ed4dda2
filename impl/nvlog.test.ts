// Tests of the NVLOG: round trips, recovery after a power cut at every NVRAM write (torn or whole),
// back-pressure, and a property test of operation sequences against an array reference.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PowerLoss } from './errors.ts';
import { type LogEntry, Nvlog } from './nvlog.ts';
import { Nvram } from './nvram.ts';
import { Power } from './power.ts';

const BLOCK_BYTES = 64;
/** Room for exactly 4 entries a half: 2 * (32-byte header + 4 * (64 + 32)-byte entries). */
const NVRAM_BYTES = 2 * (32 + 4 * (BLOCK_BYTES + 32));

function block(seed: number): Uint8Array {
  const data = new Uint8Array(BLOCK_BYTES);
  for (let i = 0; i < BLOCK_BYTES; i++) data[i] = (seed * 31 + i * 7 + 1) & 0xff;
  return data;
}

function summary(entries: readonly LogEntry[]): string[] {
  return entries.map((e) => `${e.seq}:${e.lba}:${Buffer.from(e.data).toString('hex')}`);
}

/** The obviously right log: two arrays and which one is active. */
class ReferenceLog {
  halves: [LogEntry[], LogEntry[]] = [[], []];
  active: 0 | 1 = 0;
  frozen = false;

  constructor(readonly perHalf: number) {}

  append(seq: number, lba: number, data: Uint8Array): boolean {
    const half = this.halves[this.active];
    if (half.length >= this.perHalf) return false;
    half.push({ seq, lba, data: new Uint8Array(data) });
    return true;
  }

  freeze(): boolean {
    if (this.frozen) return false;
    this.frozen = true;
    this.active = this.active === 0 ? 1 : 0;
    return true;
  }

  release(): void {
    this.halves[this.active === 0 ? 1 : 0] = [];
    this.frozen = false;
  }

  entries(): LogEntry[] {
    const frozen = this.frozen ? this.halves[this.active === 0 ? 1 : 0] : [];
    return [...frozen, ...this.halves[this.active]];
  }

  clone(): ReferenceLog {
    const copy = new ReferenceLog(this.perHalf);
    copy.halves = [[...this.halves[0]], [...this.halves[1]]];
    copy.active = this.active;
    copy.frozen = this.frozen;
    return copy;
  }
}

type Op = { kind: 'append'; lba: number } | { kind: 'freeze' } | { kind: 'release' };

function opName(op: Op): string {
  return op.kind === 'append' ? `append(lba ${op.lba})` : op.kind;
}

/** Applies one op to the reference alone. */
function applyRef(ref: ReferenceLog, op: Op, seq: number): void {
  if (op.kind === 'append') ref.append(seq, op.lba, block(seq));
  else if (op.kind === 'freeze') ref.freeze();
  else if (ref.frozen) ref.release();
}

/** Applies one op to both logs; release only when something is frozen, as a CP would. */
function step(log: Nvlog, ref: ReferenceLog, op: Op, seq: number): void {
  if (op.kind === 'append') {
    const ok = log.append(seq, op.lba, block(seq));
    expect(ok).toBe(ref.append(seq, op.lba, block(seq)));
  } else if (op.kind === 'freeze') {
    expect(log.freeze()).toBe(ref.freeze());
  } else if (ref.frozen) {
    log.release();
    ref.release();
  }
}

const SCRIPT: Op[] = [
  { kind: 'append', lba: 3 },
  { kind: 'append', lba: 9 },
  { kind: 'append', lba: 3 },
  { kind: 'freeze' },
  { kind: 'append', lba: 1 },
  { kind: 'append', lba: 2 },
  { kind: 'freeze' }, // refused: back-pressure
  { kind: 'release' },
  { kind: 'append', lba: 4 },
  { kind: 'freeze' },
  { kind: 'append', lba: 5 },
  { kind: 'release' },
  { kind: 'append', lba: 6 },
  { kind: 'append', lba: 7 },
  { kind: 'append', lba: 8 }, // fills the half
  { kind: 'append', lba: 10 }, // refused: full
  { kind: 'freeze' },
  { kind: 'append', lba: 11 },
];

describe('Nvlog', () => {
  it('round-trips append, freeze, release and recover', () => {
    const nvram = new Nvram(NVRAM_BYTES);
    const log = Nvlog.format(nvram, { blockBytes: BLOCK_BYTES });
    expect(log.entriesPerHalf).toBe(4);
    expect(log.append(1, 10, block(1))).toBe(true);
    expect(log.append(2, 11, block(2))).toBe(true);
    expect(log.freeze()).toBe(true);
    expect(log.activeHalf).toBe(1);
    expect(log.append(3, 12, block(3))).toBe(true);
    expect(summary(log.entriesAfter(1)).length).toBe(2);
    const recovered = Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES });
    expect(summary(recovered.entries())).toEqual(summary(log.entries()));
    expect(recovered.hasFrozen).toBe(true);
    expect(recovered.activeHalf).toBe(1);
    expect(recovered.lastSeq).toBe(3);
    recovered.release();
    expect(summary(recovered.entries())).toEqual(summary([{ seq: 3, lba: 12, data: block(3) }]));
    expect(summary(Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES }).entries())).toEqual(
      summary(recovered.entries()),
    );
    expect(recovered.bytesUsed).toBe(BLOCK_BYTES + 32);
  });

  it('applies back-pressure: freeze fails while the other half is frozen, appends fail when full', () => {
    const log = Nvlog.format(new Nvram(NVRAM_BYTES), { blockBytes: BLOCK_BYTES });
    for (let seq = 1; seq <= 4; seq++) expect(log.append(seq, seq, block(seq))).toBe(true);
    expect(log.append(5, 5, block(5))).toBe(false);
    expect(log.freeze()).toBe(true);
    expect(log.append(5, 5, block(5))).toBe(true);
    expect(log.freeze()).toBe(false);
    expect(log.frozenCount).toBe(4);
    log.release();
    expect(log.freeze()).toBe(true);
    expect(summary(log.entries())).toEqual(summary([{ seq: 5, lba: 5, data: block(5) }]));
  });

  it('asserts that sequence numbers increase', () => {
    const log = Nvlog.format(new Nvram(NVRAM_BYTES), { blockBytes: BLOCK_BYTES });
    log.append(5, 0, block(0));
    expect(() => log.append(5, 0, block(0))).toThrow(/nvlog seq increases/);
  });

  it('recovers exactly the completed appends after a cut at every NVRAM write, torn or whole', () => {
    const start = new Nvram(NVRAM_BYTES);
    Nvlog.format(start, { blockBytes: BLOCK_BYTES });
    // Count the script's NVRAM writes on a scratch copy.
    const counting = start.clone(new Power());
    runScript(Nvlog.recover(counting, { blockBytes: BLOCK_BYTES }), new ReferenceLog(4), SCRIPT.length);
    const total = counting.power.writes;
    expect(total).toBeGreaterThan(15);
    let tornDetected = 0;
    for (let k = 1; k <= total; k++) {
      for (const torn of [false, true]) {
        const nvram = start.clone(new Power());
        const log = Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES });
        const ref = new ReferenceLog(4);
        nvram.power.armCut(k, torn);
        const cut = runScript(log, ref, SCRIPT.length);
        expect(cut, `cut after write ${k}`).not.toBeNull();
        const { before, op } = cut!;
        // What must survive: the state before the interrupted op, plus the op if its write was whole.
        // A torn append is dropped; a release empties its half whether its header landed whole or torn.
        const expected = before.clone();
        if (!torn || op.kind === 'release') applyRef(expected, op, cut!.seq);
        nvram.power.restore();
        const recovered = Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES });
        const where = `cut after write ${k} (${torn ? 'torn' : 'whole'}) during ${opName(op)}`;
        expect(summary(recovered.entries()), where).toEqual(summary(expected.entries()));
        expect(recovered.hasFrozen, where).toBe(expected.frozen);
        if (torn && op.kind === 'append') tornDetected++;
        // The recovered log keeps working, and a second recovery agrees with it.
        const next = recovered.lastSeq + 100;
        if (!recovered.append(next, 1, block(next))) {
          if (!recovered.hasFrozen) recovered.freeze();
          else recovered.release();
        }
        const again = Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES });
        expect(summary(again.entries()), where).toEqual(summary(recovered.entries()));
      }
    }
    expect(tornDetected).toBeGreaterThan(5);
  });

  it('ignores stale entries of an earlier format and of released epochs', () => {
    const nvram = new Nvram(NVRAM_BYTES);
    const first = Nvlog.format(nvram, { blockBytes: BLOCK_BYTES });
    for (let seq = 1; seq <= 4; seq++) first.append(seq, seq, block(seq));
    const second = Nvlog.format(nvram, { blockBytes: BLOCK_BYTES });
    expect(second.entries()).toEqual([]);
    expect(Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES }).entries()).toEqual([]);
    second.append(1, 1, block(50));
    expect(summary(Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES }).entries())).toEqual(
      summary([{ seq: 1, lba: 1, data: block(50) }]),
    );
  });

  it('matches an array reference over random operation sequences, with recoveries', () => {
    const opArb = fc.oneof(
      { weight: 5, arbitrary: fc.nat({ max: 20 }).map((lba): Op | 'recover' => ({ kind: 'append', lba })) },
      { weight: 1, arbitrary: fc.constant<Op | 'recover'>({ kind: 'freeze' }) },
      { weight: 1, arbitrary: fc.constant<Op | 'recover'>({ kind: 'release' }) },
      { weight: 1, arbitrary: fc.constant<Op | 'recover'>('recover') },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40, size: 'max' }), (ops) => {
        const nvram = new Nvram(NVRAM_BYTES);
        let log = Nvlog.format(nvram, { blockBytes: BLOCK_BYTES });
        const ref = new ReferenceLog(log.entriesPerHalf);
        let seq = 0;
        for (const op of ops) {
          if (op === 'recover') {
            log = Nvlog.recover(nvram, { blockBytes: BLOCK_BYTES });
          } else {
            step(log, ref, op, ++seq);
          }
          expect(summary(log.entries())).toEqual(summary(ref.entries()));
          expect(log.hasFrozen).toBe(ref.frozen);
        }
      }),
      { numRuns: 100 },
    );
  });
});

interface Cut {
  before: ReferenceLog;
  op: Op;
  seq: number;
}

/** Runs the script until the power is cut; returns where, or null if it ran to the end. */
function runScript(log: Nvlog, ref: ReferenceLog, length: number): Cut | null {
  let seq = 0;
  for (const op of SCRIPT.slice(0, length)) {
    seq++;
    const before = ref.clone();
    try {
      step(log, ref, op, seq);
    } catch (error) {
      if (!(error instanceof PowerLoss)) throw error;
      return { before, op, seq };
    }
  }
  return null;
}
