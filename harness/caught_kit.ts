// Test kit: a short swarm campaign, the model in lockstep and no shrinking, that must catch a
// deviating target; it hands back the counterexample and a line naming the campaign seed and
// fast-check's path, which replay it. Shared by the suites that show a fault, a workload or a disk
// event is what exposes a canary (they then rerun the schedule without it).

import { expect } from 'vitest';
import { type Counterexample, runCampaign } from './campaign.ts';
import { modelCheckers } from './model_checker.ts';
import { builtInTarget } from './targets.ts';

export function caughtBySwarm(
  name: string,
  seed: number,
  runs: number,
): { readonly cx: Counterexample; readonly where: string } {
  const target = builtInTarget(name);
  expect(target, `no built-in target ${name}`).toBeDefined();
  const r = runCampaign(target!, {
    runs,
    seed,
    maxSteps: 60,
    swarm: true,
    version: 'test',
    checkers: modelCheckers,
    shrink: false,
  });
  const cx = r.counterexample;
  expect(cx, `${name} not caught in ${r.runs} schedules (campaign seed ${r.seed})`).toBeDefined();
  const where = `${cx!.property}: ${cx!.message} (campaign seed ${r.seed}; fast-check seed ${cx!.seed}, path ${cx!.path})`;
  return { cx: cx!, where };
}
