// Harness figures for `npm run bench`: campaign throughput against the reference target (with and
// without the model in lockstep) and, for each canary, how fast a campaign (model in lockstep) catches it,
// and how close its shrunk counterexamples come to the shortest failing schedule known for it.

import { LIVENESS_TICKS, runCampaign } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { runSchedule } from '../harness/runner.ts';
import type { Schedule } from '../harness/schedule.ts';
import { shortestSubsequence } from '../harness/shortest_search.ts';
import { ALL_NAMED_TARGETS, builtInTarget } from '../harness/targets.ts';

export interface Throughput {
  readonly model: boolean;
  readonly schedulesPerSecond: number;
  /** Lockstep steps (every action and every tick of a `tick N`, observed and checked) per second. */
  readonly stepsPerSecond: number;
  /** Schedule actions per second (a `tick N` is one action). */
  readonly actionsPerSecond: number;
  readonly runs: number;
}

export interface CanaryFigures {
  readonly target: string;
  readonly caught: number;
  readonly seeds: number;
  readonly medianMs: number;
  readonly medianSchedules: number;
  readonly medianShrunkSteps: number;
  /**
   * The shortest failing schedule known: the shortest a bounded search of the subsequences of every
   * seed's shrunk counterexample found (harness/shortest_search.ts); NaN when none was caught.
   */
  readonly shortestKnown: number;
  /** Whether every one of those searches was exhaustive (else `shortestKnown` is only an upper bound). */
  readonly shortestExhaustive: boolean;
}

export function measureThroughput(model: boolean, runs = 200): Throughput {
  const started = performance.now();
  const r = runCampaign(builtInTarget('reference')!, {
    runs,
    seed: 99,
    maxSteps: 60,
    swarm: true,
    version: 'bench',
    ...(model ? { checkers: modelCheckers } : {}),
  });
  const seconds = (performance.now() - started) / 1000;
  return {
    model,
    schedulesPerSecond: r.runs / seconds,
    stepsPerSecond: r.observedSteps / seconds,
    actionsPerSecond: r.steps / seconds,
    runs: r.runs,
  };
}

export function measureCanaries(seeds = 5): CanaryFigures[] {
  return ALL_NAMED_TARGETS.filter((t) => t.expected === 'fail').map((target) => {
    const times: number[] = [];
    const schedules: number[] = [];
    const shrunk: number[] = [];
    let shortestKnown = Number.NaN;
    let shortestExhaustive = true;
    for (let seed = 1; seed <= seeds; seed++) {
      const started = performance.now();
      // As `npm test` and `cpsync check` run them: the model in lockstep.
      const r = runCampaign(target, {
        runs: 1000,
        seed,
        maxSteps: 60,
        swarm: true,
        version: 'bench',
        checkers: modelCheckers,
      });
      if (!r.counterexample) continue;
      times.push(performance.now() - started);
      schedules.push(r.runsToFailure);
      const cx = r.counterexample;
      shrunk.push(cx.schedule.actions.length);
      // Outside the timing: how much shorter a failing schedule can be than what the shrinker kept.
      const s: Schedule = {
        config: cx.schedule.config,
        seed: cx.schedule.seed,
        actions: cx.schedule.actions,
      };
      const sameFailure = (c: Schedule) =>
        runSchedule(target, c, { trace: false, livenessTicks: LIVENESS_TICKS, checkers: modelCheckers() })
          .violation?.property === cx.property;
      const found = shortestSubsequence(s, { fails: sameFailure, maxRuns: 1024 });
      shortestExhaustive &&= found.exhaustive;
      const length = found.schedule.actions.length;
      if (!(length >= shortestKnown)) shortestKnown = length;
    }
    return {
      target: target.name,
      caught: times.length,
      seeds,
      medianMs: median(times),
      medianSchedules: median(schedules),
      medianShrunkSteps: median(shrunk),
      shortestKnown,
      shortestExhaustive,
    };
  });
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}
