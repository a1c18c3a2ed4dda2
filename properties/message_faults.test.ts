// Faults aimed at single messages (harness/sim_network.ts MessageFault, a schedule's `message-fault`
// action): each canary here breaks one rule that only such a fault exposes, and a swarm campaign must
// catch it. The failing schedule holds that fault, and without it the same schedule passes: the fault
// is what exposed the bug. A failure prints the campaign seed and fast-check's path.

import { describe, expect, it } from 'vitest';
import { runCampaign } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { runSchedule } from '../harness/runner.ts';
import type { MessageFault } from '../harness/sim_network.ts';
import { builtInTarget } from '../harness/targets.ts';

const CASES: readonly { target: string; fault: MessageFault['kind'] }[] = [
  { target: 'canary-no-frame-checksum', fault: 'corrupt' },
  { target: 'canary-applies-stale-cp-sync', fault: 'stale' },
];

describe('a fault of one message exposes the bug it is aimed at', () => {
  for (const c of CASES) {
    it(`${c.target} is caught, by a schedule with a ${c.fault} message`, () => {
      const target = builtInTarget(c.target)!;
      const r = runCampaign(target, {
        runs: 400,
        seed: 7,
        maxSteps: 60,
        swarm: true,
        version: 'test',
        checkers: modelCheckers,
        shrink: false,
      });
      const cx = r.counterexample;
      expect(cx, `not caught in ${r.runs} schedules (campaign seed ${r.seed})`).toBeDefined();
      const where = `${cx!.property}: ${cx!.message} (campaign seed ${r.seed}; fast-check seed ${cx!.seed}, path ${cx!.path})`;
      const { config, seed, actions } = cx!.schedule;
      const aimed = (a: (typeof actions)[number]) => a.kind === 'message-fault' && a.fault.kind === c.fault;
      expect(actions.some(aimed), where).toBe(true);
      // The same schedule without those faults: the reference and the canary alike pass it.
      const without = { config, seed, actions: actions.filter((a) => !aimed(a)) };
      const clean = runSchedule(target, without, { checkers: modelCheckers() });
      expect(
        clean.violation,
        `${where}; without the ${c.fault} faults: ${clean.violation?.message}`,
      ).toBeUndefined();
    });
  }
});
