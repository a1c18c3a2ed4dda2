// The second shrinking pass on schedules whose failure is known exactly, so the minimum is known too.

import { describe, expect, it } from 'vitest';
import type { Schedule } from './schedule.ts';
import { mergeTicks, polish } from './shrink.ts';
import { burstLbas, type WorldAction } from './world.ts';

const write = (lba: number): WorldAction => ({ kind: 'write', source: 'src0', lba });
const read = (lba: number): WorldAction => ({ kind: 'read', source: 'src0', lba });
const tick = (ticks: number): WorldAction => ({ kind: 'tick', ticks });
const schedule = (actions: WorldAction[]): Schedule => ({
  config: { preset: { sources: 1, mode: 'sync' } },
  seed: 1,
  actions,
});

/** Fails when a write to LBA 5 is followed, later, by at least 7 ticks in all. */
function writeThenSevenTicks(s: Schedule): boolean {
  const at = s.actions.findIndex((a) => a.kind === 'write' && a.lba === 5);
  if (at < 0) return false;
  let ticks = 0;
  for (const a of s.actions.slice(at + 1)) if (a.kind === 'tick') ticks += a.ticks;
  return ticks >= 7;
}

describe('polish', () => {
  it('merges adjacent ticks', () => {
    expect(mergeTicks([tick(2), tick(3), write(1), tick(1), tick(1)])).toEqual([tick(5), write(1), tick(2)]);
  });

  it('reaches the known minimum: the one write, then one tick of exactly 7', () => {
    const long = [write(1), tick(4), read(2), write(5), tick(3), write(3), tick(9), read(5), tick(2)];
    expect(writeThenSevenTicks(schedule(long))).toBe(true);
    const out = polish(schedule(long), { fails: writeThenSevenTicks });
    expect(out.schedule.actions).toEqual([write(5), tick(7)]);
    expect(out.schedule.seed).toBe(1);
    expect(out.runs).toBeGreaterThan(0);
  });

  it('never returns a schedule that does not fail, and stops at its run budget', () => {
    const long = Array.from({ length: 40 }, (_, i) => (i % 2 ? tick(1) : write(i === 10 ? 5 : 0)));
    const out = polish(schedule(long), { fails: writeThenSevenTicks, maxRuns: 5 });
    expect(out.runs).toBeLessThanOrEqual(5);
    expect(writeThenSevenTicks(out.schedule)).toBe(true);
  });

  it('drops two actions at once when neither goes alone', () => {
    // Fails with a write to LBA 5 and 7 ticks after it, or with neither of the two crashes in between.
    const crash = (node: string): WorldAction => ({ kind: 'crash', node });
    const pairOrNothing = (s: Schedule) =>
      writeThenSevenTicks(s) && s.actions.filter((a) => a.kind === 'crash').length !== 1;
    const out = polish(schedule([write(5), crash('src0'), crash('dst'), tick(7)]), { fails: pairOrNothing });
    expect(out.schedule.actions).toEqual([write(5), tick(7)]);
  });

  it('moves an action when that lets another go: a crash after the write it preceded', () => {
    // Fails when the destination crashes after a write; a crash before it must move, then a tick goes.
    const crashAfterWrite = (s: Schedule) => {
      const w = s.actions.findIndex((a) => a.kind === 'write');
      const c = s.actions.findIndex((a) => a.kind === 'crash');
      return (w >= 0 && c > w) || (c === 0 && s.actions[2]?.kind === 'tick');
    };
    const out = polish(schedule([{ kind: 'crash', node: 'dst' }, write(0), tick(1)]), {
      fails: crashAfterWrite,
    });
    expect(out.schedule.actions).toEqual([write(0), { kind: 'crash', node: 'dst' }]);
  });

  it('puts each action in its plainest form that still fails', () => {
    const failsWithAWriteAndACrash = (s: Schedule) =>
      s.actions.some((a) => a.kind === 'write') && s.actions.some((a) => a.kind === 'crash');
    const out = polish(
      schedule([
        { kind: 'write', source: 'src0', lba: 9, data: { kind: 'zero' } },
        { kind: 'crash', node: 'src0', afterWrites: 3, torn: true },
      ]),
      { fails: failsWithAWriteAndACrash },
    );
    expect(out.schedule.actions).toEqual([write(0), { kind: 'crash', node: 'src0' }]);
  });

  it('keeps the ticks apart when merging them changes the verdict', () => {
    // A predicate that tells `tick 1, tick 1` from `tick 2` (no runner does): merging is refused.
    const twoTicks = (s: Schedule) => s.actions.filter((a) => a.kind === 'tick').length >= 2;
    const out = polish(schedule([write(0), tick(1), tick(1)]), { fails: twoTicks });
    expect(out.schedule.actions).toEqual([tick(1), tick(1)]);
  });

  it('joins evenly spaced writes into one burst and lowers its count to the smallest that fails', () => {
    // Fails once five writes have gone to LBAs 3 and up: the minimum is one burst of five from LBA 3.
    const highWrites = (s: Schedule) =>
      s.actions
        .flatMap((a) => (a.kind === 'write' ? [a.lba] : a.kind === 'burst' ? burstLbas(a, 64) : []))
        .filter((lba) => lba >= 3).length >= 5;
    const writes = [write(0), write(3), write(4), write(5), write(6), write(7), write(8), tick(2)];
    const out = polish(schedule(writes), { fails: highWrites });
    expect(out.schedule.actions).toEqual([{ kind: 'burst', source: 'src0', from: 3, count: 5, stride: 1 }]);
    // Two sources' writes taking turns are no one source's run: a write moves beside its own source's
    // writes to join them, and each burst is one source's.
    const other = (lba: number): WorldAction => ({ kind: 'write', source: 'src1', lba });
    const turns = [write(3), other(4), write(5), other(6), write(7)];
    expect(polish(schedule(turns), { fails: highWrites }).schedule.actions).toEqual([
      { kind: 'burst', source: 'src0', from: 3, count: 2, stride: 2 },
      { kind: 'burst', source: 'src1', from: 4, count: 2, stride: 2 },
      write(7),
    ]);
    const again = [write(4), write(4), write(4), write(4), write(4), write(4)];
    expect(polish(schedule(again), { fails: highWrites }).schedule.actions).toEqual([
      { kind: 'burst', source: 'src0', from: 4, count: 5, stride: 0 },
    ]);
  });
});
