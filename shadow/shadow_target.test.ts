// A small conformance campaign against the shadow-paging target: the model in lockstep, swarm schedules.
// Fault model: every fault the campaign's schedules inject (crashes torn mid-CP, partitions, disk faults).

import { describe, expect, it } from 'vitest';
import { runCampaign } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { shadowPagingTarget } from './shadow_target.ts';

describe('shadow-paging target', () => {
  it('passes a swarm campaign with the model in lockstep', () => {
    const result = runCampaign(shadowPagingTarget(), {
      runs: 60,
      maxSteps: 60,
      swarm: true,
      seed: 11,
      version: 'test',
      checkers: modelCheckers,
    });
    expect(result.counterexample).toBeUndefined();
  }, 30_000);
});
