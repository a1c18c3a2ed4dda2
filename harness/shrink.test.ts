// The second shrinking pass on schedules whose failure is known exactly, so the minimum is known too.

import { describe, expect, it } from 'vitest';
import type { Schedule } from './schedule.ts';
import { mergeTicks, polish } from './shrink.ts';
import type { WorldAction } from './world.ts';

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

  it('keeps the ticks apart when merging them changes the verdict', () => {
    // A predicate that tells `tick 1, tick 1` from `tick 2` (no runner does): merging is refused.
    const twoTicks = (s: Schedule) => s.actions.filter((a) => a.kind === 'tick').length >= 2;
    const out = polish(schedule([write(0), tick(1), tick(1)]), { fails: twoTicks });
    expect(out.schedule.actions).toEqual([tick(1), tick(1)]);
  });
});
