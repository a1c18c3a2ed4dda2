// Faults aimed at single messages (harness/sim_network.ts MessageFault, a schedule's `message-fault`
// action): each canary here breaks one rule that only such a fault exposes, and a swarm campaign must
// catch it. The failing schedule holds that fault, and without it the same schedule passes: the fault
// is what exposed the bug. A failure prints the campaign seed and fast-check's path.

import { describe, expect, it } from 'vitest';
import { caughtBySwarm } from '../harness/caught_kit.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { runSchedule } from '../harness/runner.ts';
import type { MessageFault } from '../harness/sim_network.ts';
import { builtInTarget } from '../harness/targets.ts';

/** The canary, and the faults that expose it: aimed ones, and the link's duplication and reordering. */
const CASES: readonly {
  target: string;
  faults: readonly MessageFault['kind'][];
  linkRates: boolean;
  /** A campaign seed that catches it within a few dozen schedules (the mix draws every action kind). */
  seed: number;
}[] = [
  { target: 'canary-no-frame-checksum', faults: ['corrupt'], linkRates: false, seed: 2 },
  // A CP sync applied again is exposed by any copy that arrives after a later one.
  {
    target: 'canary-applies-stale-cp-sync',
    faults: ['stale', 'duplicate', 'delay'],
    linkRates: true,
    seed: 3,
  },
];

describe('a fault of one message exposes the bug it is aimed at', () => {
  for (const c of CASES) {
    it(`${c.target} is caught, by a schedule with a ${c.faults.join(' or ')} message`, () => {
      const target = builtInTarget(c.target)!;
      const { cx, where } = caughtBySwarm(c.target, c.seed, 400);
      const { config, seed, actions } = cx.schedule;
      const aimed = (a: (typeof actions)[number]) =>
        a.kind === 'message-fault' && c.faults.includes(a.fault.kind);
      const rates = c.linkRates && config.linkFaults !== undefined;
      expect(actions.some(aimed) || rates, where).toBe(true);
      // The same schedule without those faults: the canary passes it.
      const without = {
        config: rates ? { preset: config.preset } : config,
        seed,
        actions: actions.filter((a) => !aimed(a)),
      };
      const clean = runSchedule(target, without, { checkers: modelCheckers() });
      expect(clean.violation, `${where}; without those faults: ${clean.violation?.message}`).toBeUndefined();
    });
  }
});
