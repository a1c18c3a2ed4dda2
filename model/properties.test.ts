// Random walks of the model: at each step the walk picks one of the events the model enables (both
// families), and no `always` property may break. fast-check prints the seed and the shrunk path.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeEvent, type ModelEvent } from './events.ts';
import { initialModelState, step } from './lockstep.ts';
import { type CandidateOptions, enabledEvents, MODES } from './paths.ts';
import { brokenAlways, PROPERTIES } from './properties.ts';

/** Wider than the graph's: three LBAs, three writes in flight, disk faults in any state. */
const WALK: CandidateOptions = { lbas: [0, 1, 2], maxPending: 3 };

/** Runs the walk the choices describe; returns why it failed, or null. */
function walk(mode: (typeof MODES)[number], choices: readonly number[]): string | null {
  let state = initialModelState({ sourceId: 'src0', mode });
  const path: ModelEvent[] = [];
  for (const choice of choices) {
    // TICK is always enabled, so there is always a choice.
    const options = enabledEvents(state.snapshot, WALK);
    const event = options[choice % options.length]!;
    path.push(event);
    const out = step(state, event);
    const trail = () => `${mode}: ${path.map(describeEvent).join(' -> ')}`;
    if (!out.ok) return `${out.reason} after ${trail()}`;
    if (out.violations.length > 0) return `${out.violations.join('; ')} after ${trail()}`;
    const broken = brokenAlways(out.state);
    if (broken.length > 0) return `${broken.join(', ')} after ${trail()}`;
    state = out.state;
  }
  return null;
}

describe('random walks of enabled events', () => {
  it('never break an always property', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MODES),
        fc.array(fc.nat(), { minLength: 1, maxLength: 60 }),
        (mode, choices) => {
          const failure = walk(mode, choices);
          if (failure !== null) throw new Error(failure);
        },
      ),
      { numRuns: 250, seed: 4601 },
    );
  });

  it('names each property once', () => {
    const names = PROPERTIES.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
