// The bounded subsequence search: its enumeration, that it finds what dropping one action at a time
// cannot, and that the campaign's shrinker already ends at the search's minimum for real canaries
// (the shrink quality `npm run bench` reports, held here so a weaker shrinker fails a test).

import { describe, expect, it } from 'vitest';
import { LIVENESS_TICKS, runCampaign } from './campaign.ts';
import { modelCheckers } from './model_checker.ts';
import { runSchedule } from './runner.ts';
import type { Schedule } from './schedule.ts';
import { combinations, shortestSubsequence } from './shortest_search.ts';
import { polish } from './shrink.ts';
import { builtInTarget } from './targets.ts';
import type { WorldAction } from './world.ts';

const write = (lba: number): WorldAction => ({ kind: 'write', source: 'src0', lba });
const schedule = (actions: WorldAction[]): Schedule => ({
  config: { preset: { sources: 1, mode: 'sync', lbaCount: 16 } },
  seed: 1,
  actions,
});
const lbas = (s: Schedule) => s.actions.map((a) => (a.kind === 'write' ? a.lba : -1));

describe('combinations', () => {
  it('lists every k-subset once, ascending, in lexicographic order', () => {
    const all = [...combinations(5, 3)].map((c) => c.join(''));
    expect(all).toEqual(['012', '013', '014', '023', '024', '034', '123', '124', '134', '234']);
    expect([...combinations(6, 0)]).toEqual([[]]);
    expect([...combinations(3, 4)]).toEqual([]);
    for (let n = 1; n <= 8; n++) expect([...combinations(n, 2)]).toHaveLength((n * (n - 1)) / 2);
  });
});

describe('shortestSubsequence', () => {
  // Fails with writes to LBAs 1 and 2 both present, or with LBA 7 alone: dropping one action at a time
  // from [1, 2, 7] (last first) keeps [1, 2], a local minimum; the search finds [7].
  const fails = (s: Schedule): boolean => {
    const l = lbas(s);
    return (l.includes(1) && l.includes(2)) || l.includes(7);
  };

  it('finds a shorter failing subsequence than single drops reach, and says the search was exhaustive', () => {
    const input = schedule([write(1), write(2), write(7)]);
    expect(lbas(polish(input, { fails }).schedule)).toEqual([1, 2]);
    const found = shortestSubsequence(input, { fails });
    expect(lbas(found.schedule)).toEqual([7]);
    expect(found.exhaustive).toBe(true);
    // Level 1 tried in order: [1], [2], [7]; the first level that fails stops the search.
    expect(found.runs).toBe(3);
  });

  it('returns the input when nothing shorter fails, and stops at its budget saying so', () => {
    const pair = schedule([write(1), write(5), write(2)]);
    expect(lbas(shortestSubsequence(pair, { fails }).schedule)).toEqual([1, 2]);
    const spent = shortestSubsequence(pair, { fails, maxRuns: 2 });
    expect(spent).toMatchObject({ runs: 2, exhaustive: false });
    expect(lbas(spent.schedule)).toEqual([1, 5, 2]);
  });

  it('merges the ticks a removal brings together', () => {
    const tick = (ticks: number): WorldAction => ({ kind: 'tick', ticks });
    const ticksAfterWrite = (s: Schedule) => s.actions.some((a) => a.kind === 'tick' && a.ticks >= 5);
    const found = shortestSubsequence(schedule([tick(2), write(3), tick(3)]), { fails: ticksAfterWrite });
    expect(found.schedule.actions).toEqual([tick(5)]);
  });
});

describe('the campaign shrinker against the search, on canaries', () => {
  // Cheap canaries whose failures need several actions: the shrinker must end where no subsequence
  // of its result fails (the bench's "shortest known" for them is this length).
  for (const name of ['canary-store-and-forward', 'canary-nvlog-full-fails-writes', 'canary-reads-fail']) {
    it(`${name}: no subsequence of the shrunk counterexample fails the same property`, () => {
      const target = builtInTarget(name)!;
      const options = {
        runs: 1000,
        seed: 1,
        maxSteps: 60,
        swarm: true,
        version: 'test',
        checkers: modelCheckers,
      };
      const cx = runCampaign(target, options).counterexample;
      expect(cx, `${name} was not caught (campaign seed 1)`).toBeDefined();
      const shrunk: Schedule = {
        config: cx!.schedule.config,
        seed: cx!.schedule.seed,
        actions: cx!.schedule.actions,
      };
      const sameFailure = (s: Schedule) =>
        runSchedule(target, s, { trace: false, livenessTicks: LIVENESS_TICKS, checkers: modelCheckers() })
          .violation?.property === cx!.property;
      const found = shortestSubsequence(shrunk, { fails: sameFailure });
      expect(found.exhaustive).toBe(true);
      expect(found.schedule.actions.length, `seed 1, ${cx!.readable.join(' / ')}`).toBe(
        shrunk.actions.length,
      );
    });
  }
});
