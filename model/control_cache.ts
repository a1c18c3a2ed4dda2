// The control state of a snapshot, computed once per state value. Lockstep asks for it several times
// per step and relationship (the refinement compare, the abstract data's answer context, the implied
// events), and statechart.ts's `controlState` walks the value with Object.entries each time.
//
// Exact: `controlState` is a pure function of `snapshot.value` alone, and a state value is never
// mutated (xstate builds a new one for every transition that changes it, and neither the model nor
// the harness writes to one), so the answer computed for a value object holds for as long as the
// object lives; a WeakMap keyed by it forgets it with the value. Callers only read the answer.

import { type ControlState, controlState, type ModelSnapshot } from './statechart.ts';

const byValue = new WeakMap<object, ControlState>();

export function controlStateOf(snapshot: ModelSnapshot): ControlState {
  const value = snapshot.value as unknown;
  // A parallel machine's value is always an object; anything else is answered without the cache.
  if (typeof value !== 'object' || value === null) return controlState(snapshot);
  let control = byValue.get(value);
  if (control === undefined) {
    control = controlState(snapshot);
    byValue.set(value, control);
  }
  return control;
}
