// The abstract data's checks when writes share contents (harness/write_contents.ts): a block names a
// content class, and every check accepts it when one of that class's writes to its LBA would pass,
// never when none would. Hand-made histories: A B A at one LBA, zeros over never written, copies.

import { describe, expect, it } from 'vitest';
import {
  type AbstractData,
  type AnswerContext,
  acceptWrite,
  answerWrite,
  checkLogFile,
  checkPromoted,
  checkRead,
  cutRange,
  emptyData,
  type Image,
  recordFailover,
} from './abstract_data.ts';

const IN_SYNC: AnswerContext = { mode: 'sync', relationship: 'inSync', mirrored: true, promoted: false };

/** Writes (id, lba, content class), each acknowledged in sync unless listed as pending. */
function history(
  writes: readonly (readonly [number, number, number?])[],
  pending: number[] = [],
): AbstractData {
  let d = emptyData();
  for (const [id, lba, content] of writes) d = acceptWrite(d, id, lba, false, content ?? id);
  for (const [id] of writes) if (!pending.includes(id)) d = answerWrite(d, id, true, IN_SYNC);
  return d;
}

const img = (entries: Record<number, number>): Image =>
  new Map(Object.entries(entries).map(([k, v]) => [Number(k), v]));

// LBA 0: write 1 (contents A), write 3 (contents B), write 5 (A again); LBA 1: writes 2 and 4.
const ABA: readonly (readonly [number, number, number?])[] = [
  [1, 0],
  [2, 1],
  [3, 0],
  [4, 1],
  [5, 0, 1],
];

describe('a block of contents several writes carried', () => {
  it('is a cut wherever one of those writes fits, and a mixture where none does', () => {
    const d = history(ABA);
    // A at LBA 0 with write 2 at LBA 1: write 1 (cut 2); A with write 4: write 5 (cut 5).
    expect(cutRange(d, img({ 0: 1, 1: 2 }))).toEqual({ lo: 2, hi: 2 });
    expect(cutRange(d, img({ 0: 1, 1: 4 }))).toEqual({ lo: 5, hi: 5 });
    // B at LBA 0 (write 3) with write 2 at LBA 1: B is accepted after 2, and 4 not yet: cut 3.
    expect(cutRange(d, img({ 0: 3, 1: 2 }))).toEqual({ lo: 3, hi: 3 });
    // Nothing at LBA 0 but write 4 at LBA 1: write 1 was before 4 and must be there.
    expect(cutRange(d, img({ 1: 4 }))).toMatch(/mixture/);
  });

  it('answers a read as the latest of its writes: A after A B A passes, B does not', () => {
    const d = history(ABA);
    expect(checkRead(d, 0, 1)).toBeNull();
    expect(checkRead(d, 0, 3)).toMatch(/later write 5 to it was acknowledged/);
  });

  it('still catches the older write when the contents were not written again', () => {
    // A then B at LBA 0, no repeat: a read of A is write 1, older than the acknowledged write 3.
    const d = history([
      [1, 0],
      [2, 1, 1],
      [3, 0],
    ]);
    expect(checkRead(d, 0, 1)).toMatch(/later write 3/);
    // Write 2 carried A to LBA 1: A is right there, and wrong at an LBA no write of it went to.
    expect(checkRead(d, 1, 1)).toBeNull();
    expect(checkRead(d, 2, 1)).toMatch(/no write to LBA 2 carried/);
  });

  it('takes the zero block for never written or for a write of zeros, whichever fits', () => {
    // LBA 0: write 1 (fresh), then write 2 of zeros.
    const d = history([
      [1, 0],
      [2, 0, 0],
    ]);
    expect(checkRead(d, 0, 0)).toBeNull();
    expect(checkRead(d, 0, 1)).toMatch(/later write 2/);
    expect(cutRange(d, img({}))).toEqual({ lo: 0, hi: 2 });
    // Before write 1 it is never written, after write 2 it is zeros: one hull over both.
    expect(cutRange(d, img({ 0: 1 }))).toEqual({ lo: 1, hi: 1 });
  });

  it('holds a log entry of repeated contents against the earliest write that fits', () => {
    const d = history(ABA);
    const rec = (seq: number, lba: number, cls: number) => ({
      source: 'src0',
      seq,
      lba,
      data: Uint8Array.of(cls),
    });
    const classOf = (b: Uint8Array) => b[0]!;
    // Entries A, 2, B, 4, A: the second A is write 5.
    const log = [rec(1, 0, 1), rec(2, 1, 2), rec(3, 0, 3), rec(4, 1, 4), rec(5, 0, 1)];
    expect(checkLogFile(d, 'src0', log, 0, classOf)).toBeNull();
    // B after the last A: no write of B comes after write 5.
    expect(checkLogFile(d, 'src0', [rec(1, 0, 1), rec(2, 0, 1), rec(3, 0, 3)], 0, classOf)).toMatch(
      /out of acceptance order/,
    );
    // No entry of contents B: write 3 is missing. An entry of A at LBA 0 holds every write of A there
    // as far as this check goes (it cannot tell them apart; the promoted image is judged by LBA).
    expect(checkLogFile(d, 'src0', [rec(1, 0, 1), rec(2, 1, 2), rec(4, 1, 4)], 0, classOf)).toMatch(
      /misses write 3/,
    );
    expect(checkLogFile(d, 'src0', log.slice(0, 4), 0, classOf)).toBeNull();
  });

  it('judges a promoted image by the latest write its block may be', () => {
    const d = recordFailover(history(ABA));
    expect(checkPromoted(d, img({ 0: 1, 1: 4 }))).toBeNull();
    expect(checkPromoted(d, img({ 0: 3, 1: 4 }))).toMatch(/write 5 \(acknowledged: sync, inSync\) is lost/);
  });
});
