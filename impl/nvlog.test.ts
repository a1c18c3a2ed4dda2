// Tests of the NVLOG: round trips, recovery after a power cut at every NVRAM write (torn or whole),
// back-pressure, a property test of operation sequences against an array reference, and the checks on
// what it is given (LBA, seq, sizes) and what it reads back (corrupted headers and entries).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PowerLoss } from '../harness/media/errors.ts';
import { Nvram } from '../harness/media/nvram.ts';
import { Power } from '../harness/media/power.ts';
import { type LogEntry, Nvlog } from './nvlog.ts';

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
      { numRuns: 100, seed: 4401 },
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

describe('Nvlog: the checks on what it is given and what it reads', () => {
  const options = { blockBytes: BLOCK_BYTES };

  /** A log with seqs 1 and 2 in half 0, unfrozen. */
  function twoEntries(): { nvram: Nvram; log: Nvlog } {
    const nvram = new Nvram(NVRAM_BYTES);
    const log = Nvlog.format(nvram, options);
    log.append(1, 10, block(1));
    log.append(2, 11, block(2));
    return { nvram, log };
  }

  /** Flips one byte of NVRAM in place. */
  function flip(nvram: Nvram, offset: number): void {
    nvram.write(offset, Uint8Array.of(nvram.read(offset, 1)[0]! ^ 0x01));
  }

  it('a half whose header magic or checksum is wrong is empty on recovery, and gets a fresh header', () => {
    // Half 0's header: magic at byte 4, epoch at 8, blockBytes at 12, their checksum at 16.
    for (const offset of [4, 8, 12, 16]) {
      const { nvram } = twoEntries();
      flip(nvram, offset);
      const recovered = Nvlog.recover(nvram, options);
      expect(recovered.entries(), `header byte ${offset} flipped`).toEqual([]);
      expect(recovered.hasFrozen).toBe(false);
      // The fresh header is whole: a second recovery agrees, and the half takes appends again.
      expect(recovered.append(3, 12, block(3))).toBe(true);
      expect(summary(Nvlog.recover(nvram, options).entries())).toEqual(
        summary([{ seq: 3, lba: 12, data: block(3) }]),
      );
    }
    // The mark at byte 0 lies outside the checksum: a flipped mark reads as open, entries kept.
    const { nvram } = twoEntries();
    flip(nvram, 0);
    expect(
      Nvlog.recover(nvram, options)
        .entries()
        .map((e) => e.seq),
    ).toEqual([1, 2]);
  });

  it('an entry with any byte wrong ends the half’s valid prefix, whole entries after it included', () => {
    // Entry slot 1 of half 0 starts at 32 + 96; its magic, epoch, seq, lba, size, data and checksum.
    for (const at of [0, 4, 8, 12, 16, 20, 24, 24 + BLOCK_BYTES - 1, 24 + BLOCK_BYTES]) {
      const { nvram, log } = twoEntries();
      log.append(3, 12, block(3));
      flip(nvram, 32 + (BLOCK_BYTES + 32) + at);
      expect(
        Nvlog.recover(nvram, options)
          .entries()
          .map((e) => e.seq),
        `entry byte ${at}`,
      ).toEqual([1]);
    }
  });

  it('a whole entry whose seq does not exceed the one before it ends the prefix too', () => {
    const slot = (i: number) => 32 + i * (BLOCK_BYTES + 32);
    for (const copied of [0, 1]) {
      const { nvram } = twoEntries();
      // Slot 2 gets a byte-for-byte copy of slot 0 (seq 1) or of slot 1 (seq 2): valid, this epoch.
      nvram.write(slot(2), nvram.read(slot(copied), BLOCK_BYTES + 32));
      expect(
        Nvlog.recover(nvram, options)
          .entries()
          .map((e) => e.seq),
        `slot ${copied} copied`,
      ).toEqual([1, 2]);
    }
  });

  it('a released half stays empty across recoveries, whichever half recovery makes active', () => {
    const nvram = new Nvram(NVRAM_BYTES);
    const log = Nvlog.format(nvram, options);
    log.freeze();
    log.release();
    // Both halves empty: recovery makes half 0, the one released last, active again.
    let r = Nvlog.recover(nvram, options);
    expect(r.activeHalf).toBe(0);
    r.append(1, 1, block(1));
    r.append(2, 2, block(2));
    r.freeze();
    r.release();
    r = Nvlog.recover(nvram, options);
    expect(r.entries()).toEqual([]);
    r.append(3, 3, block(3));
    expect(summary(Nvlog.recover(nvram, options).entries())).toEqual(
      summary([{ seq: 3, lba: 3, data: block(3) }]),
    );
  });

  it('a torn header is rewritten above every epoch in NVRAM, so the entries behind it never come back', () => {
    const nvram = new Nvram(NVRAM_BYTES);
    const log = Nvlog.format(nvram, options);
    log.append(1, 1, block(1));
    log.freeze();
    log.append(2, 2, block(2));
    log.release(); // half 0 at epoch 2, half 1 (active, epoch 1) holds seq 2
    log.freeze();
    log.append(3, 3, block(3));
    log.append(4, 4, block(4)); // half 0 holds seqs 3 and 4 at epoch 2; half 1 is frozen
    flip(nvram, 16);
    const recovered = Nvlog.recover(nvram, options);
    expect(recovered.entries().map((e) => e.seq)).toEqual([2]);
    // Half 0's fresh header must not carry epoch 2: seqs 3 and 4 would be valid again.
    expect(
      Nvlog.recover(nvram, options)
        .entries()
        .map((e) => e.seq),
    ).toEqual([2]);
  });

  it('both halves in use and the frozen mark torn: the older half is still the frozen one', () => {
    const { nvram, log } = twoEntries();
    log.freeze();
    log.append(3, 1, block(3));
    flip(nvram, 0); // half 0's mark no longer reads FROZEN
    const r = Nvlog.recover(nvram, options);
    expect([r.hasFrozen, r.activeHalf, r.frozenCount]).toEqual([true, 1, 2]);
    expect(r.entries().map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('keeps seqs above 2^32 and LBAs up to 2^32 - 1 across a recovery', () => {
    const nvram = new Nvram(NVRAM_BYTES);
    const log = Nvlog.format(nvram, options);
    const seq = 2 ** 40 + 7;
    log.append(seq, 0xffff_ffff, block(1));
    const recovered = Nvlog.recover(nvram, options);
    expect(recovered.entries().map((e) => [e.seq, e.lba])).toEqual([[seq, 0xffff_ffff]]);
    expect(recovered.lastSeq).toBe(seq);
  });

  it('asserts LBAs fit a u32 and seqs are safe integers, and refuses a block of the wrong size', () => {
    const { log } = twoEntries();
    for (const lba of [-1, 2 ** 32, 1.5])
      expect(() => log.append(3, lba, block(3)), `lba ${lba}`).toThrow(/nvlog lba fits u32/);
    for (const seq of [2.5, 2 ** 53])
      expect(() => log.append(seq, 1, block(3)), `seq ${seq}`).toThrow(/nvlog seq increases/);
    expect(() => log.append(3, 1, new Uint8Array(BLOCK_BYTES - 8))).toThrow(
      new RangeError(`nvlog: entry of ${BLOCK_BYTES - 8} bytes, expected ${BLOCK_BYTES}`),
    );
    expect(log.entries().map((e) => e.seq)).toEqual([1, 2]);
    expect(() => log.release()).toThrow(/release follows freeze/);
  });

  it('counts what each half holds', () => {
    const { log } = twoEntries();
    expect([log.activeCount, log.frozenCount, log.bytesUsed]).toEqual([2, 0, 2 * (BLOCK_BYTES + 32)]);
    log.freeze();
    log.append(3, 1, block(3));
    expect([log.activeCount, log.frozenCount, log.bytesUsed]).toEqual([1, 2, 3 * (BLOCK_BYTES + 32)]);
    expect(log.entriesAfter(2).map((e) => e.seq)).toEqual([3]);
    expect(log.entriesAfter(0).map((e) => e.seq)).toEqual([1, 2, 3]);
    log.release();
    expect([log.activeCount, log.frozenCount, log.bytesUsed]).toEqual([1, 0, BLOCK_BYTES + 32]);
  });

  it('recovers which half is frozen: both in use, marked only, or none', () => {
    // Both halves in use (a CP started and never released): the older half is the frozen one.
    const { nvram, log } = twoEntries();
    log.freeze();
    log.append(3, 1, block(3));
    let r = Nvlog.recover(nvram, options);
    expect([r.hasFrozen, r.activeHalf, r.frozenCount, r.activeCount]).toEqual([true, 1, 2, 1]);
    // Again the other way round: half 1 older, half 0 active.
    r.release();
    r.append(4, 1, block(4));
    r.freeze();
    r.append(5, 1, block(5));
    r = Nvlog.recover(nvram, options);
    expect([r.hasFrozen, r.activeHalf, r.frozenCount, r.activeCount]).toEqual([true, 0, 2, 1]);
    // A frozen half with an empty active one: the mark says it is frozen.
    r.release();
    r.freeze();
    r = Nvlog.recover(nvram, options);
    expect([r.hasFrozen, r.activeHalf, r.frozenCount, r.activeCount]).toEqual([true, 1, 1, 0]);
    // Released: nothing frozen, the half with entries stays active.
    r.release();
    r.append(6, 1, block(6));
    r = Nvlog.recover(nvram, options);
    expect([r.hasFrozen, r.activeHalf, r.entries().map((e) => e.seq)]).toEqual([false, 1, [6]]);
  });

  it('refuses geometries that do not fit, and a log formatted for another block size', () => {
    for (const blockBytes of [0, 4, 12, 8.5])
      expect(() => Nvlog.format(new Nvram(NVRAM_BYTES), { blockBytes }), `${blockBytes}`).toThrow(
        `NVLOG block size ${blockBytes} must be a positive multiple of 8`,
      );
    // One entry a half needs 2 * (32 + 64 + 32) = 256 bytes.
    expect(() => Nvlog.format(new Nvram(255), options)).toThrow(
      'NVRAM of 255 bytes cannot hold one 64-byte entry per half: it needs at least 256 bytes',
    );
    expect(Nvlog.format(new Nvram(256), options).entriesPerHalf).toBe(1);
    // Halves of 160 bytes: a 32-byte header and one 96-byte entry, with 32 bytes to spare.
    expect(Nvlog.format(new Nvram(320), options).entriesPerHalf).toBe(1);
    expect(Nvlog.format(new Nvram(2 * (32 + 40)), { blockBytes: 8 }).entriesPerHalf).toBe(1);
    expect(() => Nvlog.format(new Nvram(NVRAM_BYTES), { ...options, entriesPerHalf: 5 })).toThrow(
      `NVRAM of ${NVRAM_BYTES} bytes holds 4 entries of 64-byte blocks a half, not 5`,
    );
    expect(Nvlog.format(new Nvram(NVRAM_BYTES), { ...options, entriesPerHalf: 3 }).entriesPerHalf).toBe(3);
    const nvram = new Nvram(NVRAM_BYTES);
    Nvlog.format(nvram, { blockBytes: 32 });
    expect(() => Nvlog.recover(nvram, options)).toThrow('NVLOG was formatted for 32-byte blocks, not 64');
  });

  it('formats with epochs above any left in NVRAM, so no old entry can come back', () => {
    const { nvram, log } = twoEntries();
    // Several releases raise the epoch; a format after them must go higher still.
    for (let i = 0; i < 3; i++) {
      log.freeze();
      log.release();
    }
    log.append(3, 3, block(3));
    const fresh = Nvlog.format(nvram, options);
    fresh.append(1, 1, block(9));
    expect(summary(Nvlog.recover(nvram, options).entries())).toEqual(
      summary([{ seq: 1, lba: 1, data: block(9) }]),
    );
    // And the log keeps working after it: epochs go on growing from there.
    let r = Nvlog.recover(nvram, options);
    for (let seq = 2; seq <= 6; seq++) {
      r.append(seq, seq, block(seq));
      r.freeze();
      r.release();
      r = Nvlog.recover(nvram, options);
      expect(r.entries(), `after seq ${seq}`).toEqual([]);
    }
  });

  it('formats above the entries behind a torn header too', () => {
    const nvram = new Nvram(NVRAM_BYTES);
    const log = Nvlog.format(nvram, options);
    log.freeze();
    log.release(); // half 0 at epoch 2
    log.append(1, 1, block(1)); // half 1, epoch 1
    log.freeze();
    log.append(2, 2, block(2));
    log.append(3, 3, block(3)); // half 0, epoch 2
    flip(nvram, 16); // half 0's header reads torn: its entries still carry epoch 2
    Nvlog.format(nvram, options);
    expect(Nvlog.recover(nvram, options).entries()).toEqual([]);
  });

  it('formats above the higher of the two halves, entries or not', () => {
    const nvram = new Nvram(NVRAM_BYTES);
    const log = Nvlog.format(nvram, options);
    log.freeze();
    log.release(); // half 0 at epoch 2
    log.freeze();
    log.release(); // half 1 at epoch 3
    log.freeze();
    log.append(1, 1, block(1));
    log.append(2, 2, block(2)); // in half 1, at epoch 3
    Nvlog.format(nvram, options);
    expect(Nvlog.recover(nvram, options).entries()).toEqual([]);
  });
});
