// Crash points: every media write of the next operation of each kind cut, torn, after a short prefix.
// The reference survives every one; a destination that writes a CP sync's root before its blocks is
// caught at the writes between the two.

import { describe, expect, it } from 'vitest';
import { crashPoints, OPERATION_KINDS } from './crash_points.ts';
import { modelCheckers } from './model_checker.ts';
import type { Schedule } from './schedule.ts';
import { builtInTarget } from './targets.ts';

const PREFIX: Schedule = {
  config: { preset: { sources: 1, mode: 'sync' } },
  seed: 1,
  actions: [
    { kind: 'write', source: 'src0', lba: 3 },
    { kind: 'tick', ticks: 12 },
  ],
};

describe('crash points', () => {
  it.each(OPERATION_KINDS)('the reference survives a cut at every media write of a %s', (kind) => {
    const r = crashPoints(builtInTarget('reference')!, { prefix: PREFIX, kind, checkers: modelCheckers });
    expect(r.operation, `no ${kind} followed the prefix`).not.toBeNull();
    // Every point cut power inside the operation: at least one write, one run per write.
    expect(r.points.length).toBe(r.operation!.writes);
    expect(r.operation!.writes).toBeGreaterThan(0);
    for (const p of r.points)
      expect(p.result.violation, `cut after write ${p.afterWrites} of the ${kind}`).toBeUndefined();
  });

  it('catches a source that labels its spare before rebuilding it, at a cut inside the rebuild', () => {
    const r = crashPoints(builtInTarget('canary-labels-spare-first')!, {
      prefix: PREFIX,
      kind: 'rebuild',
      checkers: modelCheckers,
    });
    expect(r.operation, 'no rebuild followed the prefix').not.toBeNull();
    // The label is the canary's first write: a cut after it and before the last block leaves a spare
    // the restart trusts half-written. A cut after the whole rebuild is harmless.
    const failed = r.points.filter((p) => !p.result.ok);
    expect(failed.length, 'caught at some cut').toBeGreaterThan(0);
    expect(failed[0]!.result.violation!.property).toBe('model-refinement');
    expect(r.points.at(-1)!.result.ok).toBe(true);
  });

  it('catches a destination that writes the root first, at the writes between root and blocks', () => {
    const r = crashPoints(builtInTarget('canary-root-first')!, {
      prefix: PREFIX,
      kind: 'cp-sync-apply',
      checkers: modelCheckers,
    });
    const failed = r.points.filter((p) => !p.result.ok);
    expect(failed.length).toBeGreaterThan(0);
    // Cut once the root is down and before its blocks are: the mirror shows a CP it does not hold.
    // Once every block is written too, the cut is harmless.
    expect(failed[0]!.result.violation!.property).toBe('model-refinement');
    expect(r.points.at(-1)!.result.ok).toBe(true);
  });
});
