// Benchmark of one model step, as the harness pays it on every step of every schedule: an interpreted
// actor's send, xstate's pure transition(), and the lockstep's step (can + pure step + abstract data).

import { createActor, initialTransition, transition } from 'xstate';
import type { ModelEvent } from '../model/events.ts';
import { initialModelState, type ModelState, step } from '../model/lockstep.ts';
import { type ModelSnapshot, relationshipMachine } from '../model/statechart.ts';

const INPUT = { sourceId: 'src0', mode: 'sync' } as const;
const MIN_MS = 300;

/** One CP round of an in-sync relationship with a client write and a read: every event enabled. */
function round(i: number): ModelEvent[] {
  return [
    { type: 'WRITE', lba: i % 8, writeId: i + 1 },
    { type: 'WRITE_ACKED', writeId: i + 1 },
    { type: 'READ', lba: i % 8 },
    { type: 'TICK' },
    { type: 'CP_STARTED' },
    { type: 'PRIMARY_CP_COMMITTED', cp: i + 1 },
    { type: 'MIRROR_CP_COMMITTED', cp: i + 1 },
    { type: 'CP_COMPLETED' },
  ];
}

/** Microseconds per event of `run`, which steps `rounds` rounds, over at least MIN_MS after a warm-up. */
function microsPerEvent(run: (rounds: number) => void): number {
  run(200);
  let rounds = 0;
  const start = performance.now();
  while (performance.now() - start < MIN_MS) {
    run(100);
    rounds += 100;
  }
  return ((performance.now() - start) * 1000) / (rounds * round(0).length);
}

function sendMicros(): number {
  const actor = createActor(relationshipMachine, { input: INPUT }).start();
  let i = 0;
  const micros = microsPerEvent((rounds) => {
    for (let r = 0; r < rounds; r++, i++) for (const e of round(i)) actor.send(e);
  });
  actor.stop();
  return micros;
}

function transitionMicros(): number {
  let snapshot: ModelSnapshot = initialTransition(relationshipMachine, INPUT)[0];
  let i = 0;
  return microsPerEvent((rounds) => {
    for (let r = 0; r < rounds; r++, i++)
      for (const e of round(i)) snapshot = transition(relationshipMachine, snapshot, e)[0];
  });
}

function lockstepMicros(): number {
  let state: ModelState = initialModelState(INPUT);
  let i = 0;
  return microsPerEvent((rounds) => {
    // A fresh model every 50 rounds: the abstract data grows with every write, as a schedule's does.
    for (let r = 0; r < rounds; r++, i++) {
      if (i % 50 === 0) state = initialModelState(INPUT);
      for (const e of round(i % 50)) {
        const out = step(state, e);
        if (!out.ok) throw new Error(out.reason);
        state = out.state;
      }
    }
  });
}

/**
 * Microseconds per model event: `sendMicros` for an interpreted actor, `transitionMicros` for xstate's
 * pure `transition()` (it builds an actor per call), `lockstepMicros` for lockstep.ts's `step`, which
 * checks `can`, steps purely with a reused inert scope and updates the abstract data.
 */
export function measureModel(): { sendMicros: number; transitionMicros: number; lockstepMicros: number } {
  return { sendMicros: sendMicros(), transitionMicros: transitionMicros(), lockstepMicros: lockstepMicros() };
}
