// Workloads (harness/write_contents.ts, presets.ts smallLogFile): each canary here breaks a rule that
// only a real workload's data, or a log file that wraps, exposes, and a swarm campaign must catch it.
// The data canaries' failing schedule holds writes of repeated, zero or near-identical data, and
// without those patterns the same schedule passes; the log canary's failing schedule has a small log
// file, and one of them (the first in campaign seed order) passes with the default one. A failure prints the
// campaign seed and fast-check's path.

import { describe, expect, it } from 'vitest';
import { caughtBySwarm } from '../harness/caught_kit.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { runSchedule } from '../harness/runner.ts';
import { builtInTarget } from '../harness/targets.ts';
import type { WorldAction } from '../harness/world.ts';

/** The action without its data pattern: fresh data, as before workloads had patterns. */
function fresh(a: WorldAction): WorldAction {
  if (a.kind !== 'write' && a.kind !== 'burst') return a;
  const { data: _data, ...rest } = a;
  return rest;
}

describe("a workload's data exposes the bug that mishandles it", () => {
  for (const c of [
    // Two blocks that differ only past their first 64 bytes share the canary's fingerprint.
    { target: 'canary-dedup-weak-fingerprint', patterns: ['near'], seed: 4 },
    { target: 'canary-zero-write-as-hole', patterns: ['zero', 'repeat', 'near'], seed: 4 },
  ]) {
    it(`${c.target} is caught, by a schedule with ${c.patterns.join(' or ')} data`, () => {
      const target = builtInTarget(c.target)!;
      const { cx, where } = caughtBySwarm(c.target, c.seed, 200);
      const { config, seed, actions } = cx.schedule;
      const patterned = actions.filter(
        (a) => (a.kind === 'write' || a.kind === 'burst') && a.data && c.patterns.includes(a.data.kind),
      );
      expect(patterned.length, where).toBeGreaterThan(0);
      // The same schedule with fresh data everywhere: the canary passes it.
      const clean = runSchedule(
        target,
        { config, seed, actions: actions.map(fresh) },
        { checkers: modelCheckers() },
      );
      expect(clean.violation, `${where}; with fresh data: ${clean.violation?.message}`).toBeUndefined();
    });
  }
});

describe('a log file that wraps exposes the bug that mishandles the wrap', () => {
  it('canary-log-trusts-stale-lap is caught, by a schedule whose log file wrapped', () => {
    const target = builtInTarget('canary-log-trusts-stale-lap')!;
    // Its failing schedules often forward enough to wrap the default log file too: the claim is that
    // some caught schedule (the first, in campaign seed order) passes once given the default one, so
    // that the small log file, not the writes alone, exposed the bug.
    let controlled = 0;
    // From campaign seed 2: seed 1's 200 schedules (in today's swarm mixes) catch it in none.
    for (let campaignSeed = 2; campaignSeed <= 9 && controlled === 0; campaignSeed++) {
      const { cx, where } = caughtBySwarm('canary-log-trusts-stale-lap', campaignSeed, 200);
      const { config, seed, actions } = cx.schedule;
      expect(config.preset.smallLogFile, where).toBe(true);
      // The reference passes it.
      const reference = runSchedule(builtInTarget('reference')!, cx.schedule, { checkers: modelCheckers() });
      expect(reference.violation, `${where}; the reference: ${reference.violation?.message}`).toBeUndefined();
      const { smallLogFile: _small, ...preset } = config.preset;
      const big = runSchedule(
        target,
        { config: { ...config, preset }, seed, actions },
        { checkers: modelCheckers() },
      );
      if (big.violation === undefined) controlled = campaignSeed;
    }
    expect(
      controlled,
      'a caught schedule that passes with the default log file, in campaign seeds 1-8',
    ).toBeGreaterThan(0);
  });
});
