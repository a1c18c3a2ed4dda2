// Rarity: every fault class and situation of harness/fault_coverage.ts, and every `sometimes` goal the
// properties record, is reached by at least 5% of swarm schedules, so that a campaign of a few
// hundred schedules tests each of them many times. The model's own goals are the model suite's.

import { beforeAll, describe, expect, it } from 'vitest';
import { CP_PROPERTIES } from '../model/cp_obligations.ts';
import { SOMETIMES } from '../properties/properties.ts';
import type { CampaignResult } from './campaign.ts';
import { runCampaign } from './campaign.ts';
import { FAULT_CLASSES } from './fault_coverage.ts';
import { builtInTarget } from './targets.ts';

const RUNS = 300;
const SEED = 1;

describe('swarm schedules reach every fault class and situation', () => {
  // In a hook, not at collection: a test run that skips these runs no campaign.
  let r: CampaignResult;
  beforeAll(() => {
    r = runCampaign(builtInTarget('reference')!, {
      runs: RUNS,
      seed: SEED,
      maxSteps: 60,
      swarm: true,
      version: 'test',
    });
  });
  const modelGoals = new Set<string>(CP_PROPERTIES.flatMap((p) => p.partners as readonly string[]));
  const share = (n: number | undefined) => (n ?? 0) / r.runs;

  it('held every property on the way', () => {
    expect(r.counterexample?.message, `campaign seed ${SEED}`).toBeUndefined();
  });

  it.each(FAULT_CLASSES)('%s in at least 5% of schedules', (name) => {
    expect(
      share(r.faultCoverage.get(name)),
      `${r.faultCoverage.get(name) ?? 0} of ${r.runs} (seed ${SEED})`,
    ).toBeGreaterThanOrEqual(0.05);
  });

  it.each(SOMETIMES.map((p) => p.name).filter((n) => !modelGoals.has(n)))(
    'the sometimes goal %s in at least 5% of schedules',
    (name) => {
      expect(
        share(r.sometimes.get(name)),
        `${r.sometimes.get(name) ?? 0} of ${r.runs} (seed ${SEED})`,
      ).toBeGreaterThanOrEqual(0.05);
    },
  );
});
