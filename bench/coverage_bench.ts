// Fault coverage for `npm run bench`: what share of a swarm campaign's schedules exercised each fault
// class and situation (harness/fault_coverage.ts), the same figures `cpsync check` prints on its
// `faults:` line, here over a fixed seed so that runs of the bench compare.

import { runCampaign } from '../harness/campaign.ts';
import { FAULT_CLASSES } from '../harness/fault_coverage.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { builtInTarget } from '../harness/targets.ts';

export interface CoverageFigures {
  readonly runs: number;
  /** Every fault class, in FAULT_CLASSES order, with the share of schedules (0..1) that reached it. */
  readonly shares: readonly { readonly name: string; readonly share: number }[];
}

export function measureFaultCoverage(runs = 300, seed = 1): CoverageFigures {
  // As `cpsync check --swarm` runs them: the model in lockstep (it can refuse an action, and so
  // change what a schedule reaches).
  const r = runCampaign(builtInTarget('reference')!, {
    runs,
    seed,
    maxSteps: 60,
    swarm: true,
    version: 'bench',
    checkers: modelCheckers,
  });
  return {
    runs: r.runs,
    shares: FAULT_CLASSES.map((name) => ({ name, share: (r.faultCoverage.get(name) ?? 0) / r.runs })),
  };
}
