// lockstep.ts answers `can` and steps the statechart with the compiled chart (compiled_chart.ts), not
// xstate's interpreter. This checks lockstep's own entry points against xstate itself along random
// walks: every candidate event's `can`, and every step's state value, status and context, must be
// exactly what xstate computes on the same snapshot.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { enabledIn, initialModelState, type ModelState, step } from './lockstep.ts';
import { candidateEvents } from './paths.ts';
import { nextSnapshot } from './statechart.ts';

const OPTIONS = { lbas: [0, 1, 2], maxPending: 3 };

describe('lockstep', () => {
  it('answers can and steps exactly as xstate does, along random walks', () => {
    let compared = 0;
    fc.assert(
      fc.property(
        fc.constantFrom('sync', 'strict-sync', 'semi-sync' as const),
        fc.array(fc.nat(), { minLength: 20, maxLength: 80 }),
        (mode, picks) => {
          let state: ModelState = initialModelState({ sourceId: 'src0', mode });
          for (const pick of picks) {
            const candidates = candidateEvents(state.snapshot, OPTIONS);
            const enabled = candidates.filter((e) => {
              const memo = enabledIn(state.snapshot, e);
              expect(memo, JSON.stringify(e)).toBe(state.snapshot.can(e));
              return memo;
            });
            if (enabled.length === 0) return;
            const event = enabled[pick % enabled.length]!;
            const plain = nextSnapshot(state.snapshot, event);
            const out = step(state, event);
            if (!out.ok) throw new Error(out.reason);
            expect(out.state.snapshot.value).toEqual(plain.value);
            expect(out.state.snapshot.status).toBe(plain.status);
            expect(out.state.snapshot.context).toEqual(plain.context);
            compared++;
            state = out.state;
          }
        },
      ),
      { numRuns: 60, seed: 20261201 },
    );
    // The walks really went somewhere: thousands of steps compared.
    expect(compared).toBeGreaterThan(1000);
  });
});
