// The conformance suites `npm test` runs: the reference implementation passes a campaign with the
// model in lockstep, every `always` property's precondition is reached (its `sometimes` partner), every
// canary is caught with a shrunk counterexample, and committed counterexamples replay as regressions.
// A failure prints the campaign's seed and fast-check's path, and the counterexample's readable steps.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type CampaignResult,
  type Counterexample,
  replayCounterexample,
  runCampaign,
} from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { BUILT_IN_TARGETS, builtInTarget } from '../harness/targets.ts';
import { CP_PROPERTIES } from '../model/cp_obligations.ts';
import { ALWAYS, SOMETIMES } from './properties.ts';

const VERSION = 'test';

function explain(r: CampaignResult): string {
  const cx = r.counterexample;
  if (!cx) return `no counterexample (campaign seed ${r.seed}, ${r.runs} schedules)`;
  return [
    `${cx.property}: ${cx.message}`,
    `campaign seed ${r.seed}; fast-check seed ${cx.seed}, path ${cx.path}`,
    ...cx.readable.slice(0, cx.schedule.actions.length + 1),
  ].join('\n');
}

describe('the reference implementation', () => {
  // Two seeds, swarm on: each schedule draws its own mix of fault kinds. The campaigns run in the first
  // test that asserts on them, not while tests are collected, so that a mutation test (`npm run
  // mutate`) can tell which tests reach which code; the second test reuses them.
  let campaigns: CampaignResult[] | undefined;
  const results = (): CampaignResult[] =>
    (campaigns ??= [11, 12].map((seed) =>
      runCampaign(builtInTarget('reference')!, {
        runs: 120,
        seed,
        maxSteps: 60,
        swarm: true,
        version: VERSION,
        checkers: modelCheckers,
      }),
    ));

  it('holds every property, with the model in lockstep', () => {
    for (const r of results()) expect(r.counterexample, explain(r)).toBeUndefined();
  });

  it('reaches every `sometimes` property, so no `always` passes vacuously', () => {
    const ran = results();
    const hit = new Set(ran.flatMap((r) => [...r.sometimes.keys()]));
    const missed = SOMETIMES.map((p) => p.name).filter((name) => !hit.has(name));
    expect(missed, `never reached in ${ran.map((r) => `seed ${r.seed}`).join(', ')}`).toEqual([]);
  });

  it('gives every `always` property a `sometimes` partner, the model-judged CP rules included', () => {
    const partnered = new Set(SOMETIMES.flatMap((p) => p.partnerOf ?? []));
    const always = [...ALWAYS.map((p) => p.name), ...CP_PROPERTIES.map((p) => p.name)];
    expect(always.filter((name) => !partnered.has(name))).toEqual([]);
  });
});

/**
 * Campaign seeds other than 7: a failover whose log replay matters is rare in generated schedules
 * (seed 7 reaches one for canary-failover-without-replay after 534 schedules, seed 8 after 20).
 */
const SEED_OF: Readonly<Record<string, number>> = { 'canary-failover-without-replay': 8 };

describe('canaries: each deliberately broken target is caught', () => {
  for (const target of BUILT_IN_TARGETS.filter((t) => t.expected === 'fail')) {
    it(`${target.name}: ${target.description}`, () => {
      const r = runCampaign(target, {
        runs: 400,
        seed: SEED_OF[target.name] ?? 7,
        maxSteps: 60,
        swarm: true,
        version: VERSION,
        checkers: modelCheckers,
      });
      expect(r.counterexample, `not caught in ${r.runs} schedules (campaign seed ${r.seed})`).toBeDefined();
      const cx = r.counterexample!;
      // Shrunk: a short schedule a person can read.
      expect(cx.schedule.actions.length, explain(r)).toBeLessThanOrEqual(30);
      // And it replays: the same violation from the saved schedule alone.
      const again = replayCounterexample(target, cx, modelCheckers());
      expect(again.violation?.property, explain(r)).toBe(cx.property);
    });
  }
});

describe('committed counterexamples replay as regressions', () => {
  const dir = join(import.meta.dirname, '..', 'reports', 'counterexamples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it('has committed counterexamples to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    const cx = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Counterexample;
    const target = builtInTarget(cx.target);
    it(`${file}: ${target?.expected === 'fail' ? 'still caught' : 'stays fixed'}`, () => {
      expect(target, `unknown target ${cx.target}`).toBeDefined();
      const r = replayCounterexample(target!, cx, cx.lockstep ? modelCheckers() : []);
      if (target!.expected === 'fail') expect(r.violation?.property).toBe(cx.property);
      else
        expect(
          r.violation,
          `${file} fails again: ${r.violation?.property}: ${r.violation?.message}`,
        ).toBeUndefined();
    });
  }
});
