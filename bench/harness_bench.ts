// Harness figures for `npm run bench`: campaign throughput against the reference target (with and
// without the model in lockstep) and, for each canary, how fast a campaign (model in lockstep) catches it.

import { runCampaign } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { BUILT_IN_TARGETS, builtInTarget } from '../harness/targets.ts';

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
  return BUILT_IN_TARGETS.filter((t) => t.expected === 'fail').map((target) => {
    const times: number[] = [];
    const schedules: number[] = [];
    const shrunk: number[] = [];
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
      shrunk.push(r.counterexample.schedule.actions.length);
    }
    return {
      target: target.name,
      caught: times.length,
      seeds,
      medianMs: median(times),
      medianSchedules: median(schedules),
      medianShrunkSteps: median(shrunk),
    };
  });
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}
