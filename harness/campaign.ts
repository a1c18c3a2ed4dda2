// A conformance campaign: fast-check draws schedules, the runner checks each against a target, and a
// failure is shrunk by fast-check to a short schedule and packaged as a counterexample that a user can
// read without running anything and replay deterministically (`cpsync replay FILE`).

import fc from 'fast-check';
import { runScheduleTwice } from './determinism.ts';
import { type LockstepChecker, type RunResult, runSchedule, type Violation } from './runner.ts';
import { describeAction, type Schedule, type ScheduleOptions, scheduleArb } from './schedule.ts';
import { shortestSubsequence } from './shortest_search.ts';
import { polish } from './shrink.ts';
import type { ConformanceTarget } from './target.ts';
import type { WorldAction } from './world.ts';

export const COUNTEREXAMPLE_FORMAT = 'cpsync-counterexample/1';
export const LIVENESS_TICKS = 400;
/** Runs the subsequence search may make after the polish: every subsequence of 8 actions. */
const SUBSEQUENCE_RUNS = 254;

export interface Counterexample {
  readonly format: typeof COUNTEREXAMPLE_FORMAT;
  readonly cpsyncVersion: string;
  readonly target: string;
  readonly property: string;
  readonly message: string;
  /** fast-check's seed and path: `fc.assert(..., { seed, path })` reproduces the shrunk failure. */
  readonly seed: number;
  readonly path: string;
  readonly schedule: {
    readonly config: Schedule['config'];
    readonly seed: number;
    /** The safety phase's executed actions; replay runs them, then the same liveness phase. */
    readonly actions: readonly WorldAction[];
    readonly livenessTicks: number;
  };
  /** The same actions, one readable line each, and where the violation followed. */
  readonly readable: readonly string[];
  /** Whether the model ran in lockstep: a replay runs it too, or not, to reproduce the same run. */
  readonly lockstep: boolean;
  readonly violationStep: number;
  readonly phase: Violation['phase'];
  readonly trace: readonly string[];
}

export interface CampaignOptions extends ScheduleOptions {
  readonly runs: number;
  readonly seed: number;
  readonly checkers?: () => readonly LockstepChecker[];
  /** Called after each schedule (for a progress bar). */
  readonly onRun?: (run: number, result: RunResult) => void;
  readonly version: string;
  /** Shrink a failure (default). Off, the first failing schedule is reported as found: faster. */
  readonly shrink?: boolean;
  /** Run every schedule twice and compare the transcripts (harness/determinism.ts). */
  readonly checkDeterminism?: boolean;
}

export interface CampaignResult {
  readonly target: string;
  readonly seed: number;
  readonly runs: number;
  readonly steps: number;
  /** Lockstep steps: every action and every tick, each observed and checked. */
  readonly observedSteps: number;
  readonly ticks: number;
  /** How many schedules ran before the first failure was found (all of them when none failed). */
  readonly runsToFailure: number;
  readonly sometimes: ReadonlyMap<string, number>;
  /** Per fault class or situation (harness/fault_coverage.ts), the schedules that exercised it. */
  readonly faultCoverage: ReadonlyMap<string, number>;
  readonly counterexample?: Counterexample;
}

export function runCampaign(target: ConformanceTarget, options: CampaignOptions): CampaignResult {
  let runs = 0;
  let steps = 0;
  let observedSteps = 0;
  let ticks = 0;
  let runsToFailure = 0;
  const sometimes = new Map<string, number>();
  const faultCoverage = new Map<string, number>();
  let lastFailure: { schedule: Schedule; result: RunResult } | null = null;
  const arb = scheduleArb(options);
  const details = fc.check(
    fc.property(arb, (schedule) => {
      const result = runWith(target, schedule, options, false);
      runs++;
      steps += result.steps;
      observedSteps += result.observedSteps;
      ticks += result.ticks;
      for (const name of result.sometimes) sometimes.set(name, (sometimes.get(name) ?? 0) + 1);
      for (const name of result.coverage) faultCoverage.set(name, (faultCoverage.get(name) ?? 0) + 1);
      options.onRun?.(runs, result);
      if (!result.ok) {
        if (lastFailure === null) runsToFailure = runs;
        lastFailure = { schedule, result };
      }
      return result.ok;
    }),
    { seed: options.seed, numRuns: options.runs, endOnFailure: options.shrink === false },
  );
  const base = {
    target: target.name,
    seed: options.seed,
    runs,
    steps,
    observedSteps,
    ticks,
    sometimes,
    faultCoverage,
    runsToFailure: runsToFailure || runs,
  };
  if (!details.failed) return base;
  // A failure is always a run whose result said so: the runner turns every exception into a violation.
  if (lastFailure === null)
    throw new Error(`fast-check reported a failure the runner did not: ${String(details.errorInstance)}`);
  // fast-check ran the shrunk counterexample last among the failures: replay it with the trace on.
  const shrunk = details.counterexample?.[0] ?? (lastFailure as { schedule: Schedule }).schedule;
  return {
    ...base,
    counterexample: toCounterexample(target, shrunk, details.seed, details.counterexamplePath ?? '', options),
  };
}

/** Runs a failing schedule again with the trace on and packages it (harness/campaign_share.ts uses it too). */
export function toCounterexample(
  target: ConformanceTarget,
  schedule: Schedule,
  seed: number,
  path: string,
  options: CampaignOptions,
): Counterexample {
  const run = (s: Schedule, trace: boolean) => runWith(target, s, options, trace);
  // fast-check's shrink is done; harness/shrink.ts polishes what ran (adjacent ticks merged, actions
  // that change nothing dropped, writes joined into bursts, counts lowered), keeping only what fails
  // the same property.
  let final = schedule;
  const first = run(schedule, false);
  const found = first.violation?.property;
  if (found !== undefined && options.shrink !== false) {
    const executed = { ...schedule, actions: first.executed.slice(0, first.safetySteps) };
    const same = (s: Schedule) => run(s, false).violation?.property === found;
    final = polish(executed, { fails: same }).schedule;
    // Then every subsequence of what is left, shortest first: dropping two actions at once can
    // succeed where dropping either alone fails. Bounded: exhaustive up to 8 actions.
    final = shortestSubsequence(final, { fails: same, maxRuns: SUBSEQUENCE_RUNS }).schedule;
  }
  const result = run(final, true);
  const v = result.violation ?? {
    property: 'unknown',
    message: 'the failure did not reproduce with the trace on',
    step: 0,
    phase: 'safety' as const,
  };
  return {
    format: COUNTEREXAMPLE_FORMAT,
    cpsyncVersion: options.version,
    target: target.name,
    property: v.property,
    message: v.message,
    seed,
    path,
    schedule: {
      config: final.config,
      seed: final.seed,
      actions: result.executed.slice(0, result.safetySteps),
      livenessTicks: LIVENESS_TICKS,
    },
    readable: readableSteps(result, v.step),
    lockstep: options.checkers !== undefined,
    violationStep: v.step,
    phase: v.phase,
    trace: result.trace,
  };
}

/** One schedule as a campaign runs it: once, or twice compared (each run with checkers of its own). */
function runWith(
  target: ConformanceTarget,
  s: Schedule,
  options: CampaignOptions,
  trace: boolean,
): RunResult {
  return options.checkDeterminism
    ? runScheduleTwice(target, s, {
        livenessTicks: LIVENESS_TICKS,
        ...(options.checkers ? { checkers: options.checkers } : {}),
      })
    : runSchedule(target, s, { trace, livenessTicks: LIVENESS_TICKS, checkers: options.checkers?.() ?? [] });
}

/** The executed actions as numbered lines, the liveness phase marked, the violation pointed at. */
export function readableSteps(result: RunResult, violationStep: number): string[] {
  return result.executed.map((a, i) => {
    const phase = i === result.safetySteps ? '  (liveness phase: every fault healed)' : '';
    const mark = i + 1 === violationStep ? '   <-- violated here' : '';
    return `${String(i + 1).padStart(3)} ${describeAction(a)}${mark}${phase}`;
  });
}

/** Replays a counterexample: the same safety actions (all were enabled), then the same liveness phase. */
export function replayCounterexample(
  target: ConformanceTarget,
  cx: Pick<Counterexample, 'schedule'>,
  checkers: readonly LockstepChecker[] = [],
): RunResult {
  const { config, seed, actions, livenessTicks } = cx.schedule;
  return runSchedule(target, { config, seed, actions }, { trace: true, checkers, livenessTicks });
}
