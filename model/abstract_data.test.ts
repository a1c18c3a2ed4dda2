// The abstract data's checks on hand-made histories: cuts, mixtures, reads, the log file, failover.

import { describe, expect, it } from 'vitest';
import { writeData } from '../harness/write_identity.ts';
import {
  type AbstractData,
  type AnswerContext,
  acceptWrite,
  answerWrite,
  beginResync,
  beginStep,
  checkConsistentCut,
  checkLogFile,
  checkPromoted,
  checkRead,
  cutRange,
  emptyData,
  guaranteeAcknowledged,
  type Image,
  imageOf,
  putInDoubt,
  recordFailover,
  recordMirrorImage,
  recordPrimaryImage,
  writeIndex,
} from './abstract_data.ts';

const IN_SYNC: AnswerContext = { mode: 'sync', relationship: 'inSync', mirrored: true, promoted: false };
const OUT_OF_SYNC: AnswerContext = {
  mode: 'sync',
  relationship: 'outOfSync',
  mirrored: false,
  promoted: false,
};

/** Writes (id, lba), each acknowledged in sync unless listed as pending, failed or in doubt. */
function history(
  writes: readonly (readonly [number, number])[],
  open: { pending?: number[]; failed?: number[]; inDoubt?: number[]; outOfSync?: number[] } = {},
): AbstractData {
  let d = emptyData();
  for (const [id, lba] of writes) d = acceptWrite(d, id, lba);
  for (const [id] of writes) {
    if (open.pending?.includes(id) || open.inDoubt?.includes(id)) continue;
    if (open.failed?.includes(id))
      d = answerWrite(d, id, false, { ...IN_SYNC, mode: 'strict-sync', relationship: 'outOfSync' });
    else d = answerWrite(d, id, true, open.outOfSync?.includes(id) ? OUT_OF_SYNC : IN_SYNC);
  }
  return putInDoubt(d, open.inDoubt ?? []);
}

const img = (entries: Record<number, number>): Image =>
  new Map(Object.entries(entries).map(([k, v]) => [Number(k), v]));

// Writes 1..4: LBA 0 gets 1 then 3, LBA 1 gets 2 then 4.
const FOUR: readonly (readonly [number, number])[] = [
  [1, 0],
  [2, 1],
  [3, 0],
  [4, 1],
];

describe('accepted writes', () => {
  it('are found by write id in acceptance order, and must come in issue order', () => {
    let d = emptyData();
    expect(writeIndex(d, 1)).toBeUndefined();
    const ids = [2, 3, 5, 8, 13, 21, 34];
    for (const id of ids) d = acceptWrite(d, id, id % 4);
    for (const [i, id] of ids.entries()) expect(writeIndex(d, id)).toBe(i);
    for (const id of [0, 1, 4, 20, 35, -1]) expect(writeIndex(d, id)).toBeUndefined();
    expect(() => acceptWrite(d, 34, 0)).toThrow('writes are accepted in issue order');
    expect(() => acceptWrite(d, 30, 0)).toThrow('writes are accepted in issue order');
    // The data accepted from stays as it was.
    expect(acceptWrite(d, 35, 1).writes).toHaveLength(ids.length + 1);
    expect(d.writes).toHaveLength(ids.length);
  });
});

describe('consistent cuts', () => {
  it('accepts every prefix of the writes', () => {
    const d = history(FOUR);
    expect(cutRange(d, img({}))).toEqual({ lo: 0, hi: 0 });
    expect(cutRange(d, img({ 0: 1 }))).toEqual({ lo: 1, hi: 1 });
    expect(cutRange(d, img({ 0: 1, 1: 2 }))).toEqual({ lo: 2, hi: 2 });
    expect(cutRange(d, img({ 0: 3, 1: 2 }))).toEqual({ lo: 3, hi: 3 });
    expect(cutRange(d, img({ 0: 3, 1: 4 }))).toEqual({ lo: 4, hi: 4 });
  });

  it('finds a mixture: a later write at one LBA, an older one at another', () => {
    const d = history(FOUR);
    // Write 3 is in (cut >= 3) but LBA 1 still holds nothing although write 2 came before write 3.
    const message = checkConsistentCut(d, img({ 0: 3 }));
    expect(message).toMatch(/mixture/);
    expect(message).toContain('LBA 0 holds write 3');
    expect(checkConsistentCut(d, img({ 0: 1, 1: 4 }))).toMatch(/mixture/);
  });

  it('lets failed and in-doubt writes be missing, but not acknowledged or pending ones', () => {
    expect(checkConsistentCut(history(FOUR, { failed: [2] }), img({ 0: 3 }))).toBeNull();
    expect(checkConsistentCut(history(FOUR, { inDoubt: [2] }), img({ 0: 3 }))).toBeNull();
    expect(checkConsistentCut(history(FOUR, { pending: [2] }), img({ 0: 3 }))).toMatch(/mixture/);
  });

  it('refuses torn blocks, unknown writes and writes at the wrong LBA', () => {
    const d = history(FOUR);
    expect(checkConsistentCut(d, img({ 0: -1 }))).toMatch(/torn or foreign/);
    expect(checkConsistentCut(d, img({ 0: 9 }))).toMatch(/not accepted/);
    expect(checkConsistentCut(d, img({ 1: 1 }))).toMatch(/written to LBA 0/);
  });

  it('refuses a CP older than the previous one, and a mirror that differs from the primary', () => {
    let d = history(FOUR);
    d = recordPrimaryImage(d, 1, img({ 0: 3, 1: 2 })).data;
    expect(recordPrimaryImage(d, 2, img({ 0: 1, 1: 2 })).violation).toMatch(/older than CP 1/);
    expect(recordMirrorImage(d, 1, img({ 0: 3, 1: 2 })).violation).toBeNull();
    expect(recordMirrorImage(d, 1, img({ 0: 1, 1: 2 })).violation).toMatch(
      /primary holds write 3, the mirror write 1/,
    );
  });
});

describe('reads', () => {
  it('return the latest acknowledged write, or a later one still open', () => {
    const d = history(FOUR, { pending: [4] });
    expect(checkRead(d, 0, 3)).toBeNull();
    expect(checkRead(d, 0, 1)).toMatch(/later write 3/);
    expect(checkRead(d, 1, 4)).toBeNull();
    expect(checkRead(d, 1, 2)).toBeNull(); // write 4 may still be stalled by back-pressure
    expect(checkRead(d, 1, 0)).toMatch(/later write 2/);
  });

  it('after failover, what the promoted image held unless written since', () => {
    let d = recordFailover(history(FOUR));
    d = { ...d, promoted: { image: img({ 0: 3, 1: 4 }), cut: { lo: 4, hi: 4 }, violation: null } };
    expect(checkRead(d, 0, 3)).toBeNull();
    expect(checkRead(d, 0, 1)).toMatch(/promoted image holds 3/);
    d = answerWrite(acceptWrite(d, 5, 0), 5, true, { ...IN_SYNC, promoted: true });
    expect(checkRead(d, 0, 5)).toBeNull();
    expect(checkRead(d, 0, 3)).toMatch(/later write 5/);
  });
});

describe('failover', () => {
  it('keeps every write acknowledged in sync, per LBA the latest or a later one', () => {
    const d = recordFailover(history(FOUR));
    expect(checkPromoted(d, img({ 0: 3, 1: 4 }))).toBeNull();
    expect(checkPromoted(d, img({ 0: 3, 1: 2 }))).toMatch(/write 4 \(acknowledged: sync, inSync\) is lost/);
  });

  it('may lose writes acknowledged out of sync, until a resync guarantees them', () => {
    const d = recordFailover(history(FOUR, { outOfSync: [3, 4] }));
    expect(checkPromoted(d, img({ 0: 1, 1: 2 }))).toBeNull();
    expect(checkPromoted(d, img({ 0: 3, 1: 2 }))).toBeNull();
    expect(checkPromoted(d, img({ 0: 1, 1: 4 }))).toMatch(/mixture/);
    const resynced = recordFailover(
      guaranteeAcknowledged(beginResync(beginStep(history(FOUR, { outOfSync: [3, 4] }), 0)), 'sync'),
    );
    expect(checkPromoted(resynced, img({ 0: 1, 1: 2 }))).toMatch(/write 3 .* is lost/);
  });

  it('guarantees nothing in semi-sync', () => {
    let d = emptyData();
    for (const [id, lba] of FOUR)
      d = answerWrite(acceptWrite(d, id, lba), id, true, { ...IN_SYNC, mode: 'semi-sync' });
    expect(checkPromoted(recordFailover(d), img({}))).toBeNull();
  });
});

describe('the log file', () => {
  const record = (seq: number, id: number, lba: number, source = 'src0') => ({
    source,
    seq,
    lba,
    data: writeData(id, lba, 64),
  });

  it('holds the guaranteed writes after the mirror CP, in order, none of another source', () => {
    let d = history(FOUR);
    d = recordPrimaryImage(d, 1, img({ 0: 1, 1: 2 })).data;
    d = recordMirrorImage(d, 1, img({ 0: 1, 1: 2 })).data;
    expect(checkLogFile(d, 'src0', [record(3, 3, 0), record(4, 4, 1)], 1)).toBeNull();
    expect(checkLogFile(d, 'src0', [record(3, 3, 0)], 1)).toMatch(/misses write 4/);
    expect(checkLogFile(d, 'src0', [record(4, 4, 1), record(3, 3, 0)], 1)).toMatch(/seq 3 follows seq 4/);
    expect(checkLogFile(d, 'src0', [record(3, 4, 1), record(4, 3, 0)], 1)).toMatch(/out of acceptance order/);
    expect(checkLogFile(d, 'src0', [record(3, 3, 0, 'src1')], 1)).toMatch(/an entry of src1/);
    expect(checkLogFile(d, 'src0', [record(3, 3, 1)], 1)).toMatch(/puts write 3 at LBA 1/);
  });

  it('reads write identities from blocks', () => {
    expect(
      imageOf(
        new Map([
          [0, writeData(7, 0, 64)],
          [1, new Uint8Array(64)],
        ]),
      ),
    ).toEqual(img({ 0: 7 }));
  });
});
