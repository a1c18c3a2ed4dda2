// What `cpsync check` (and `cpsync merge`) says about a campaign: one summary, printed as lines or as one
// JSON object (`--json`, the input of `cpsync merge`). It never claims more than was run: runs and
// shrink attempts are counted apart, a campaign that stopped at its first failure says so instead of
// judging its `sometimes` goals, and the `reproduce:` line repeats every option that changes what runs.

import type { Counterexample } from '../harness/campaign.ts';
import { FAULT_CLASSES } from '../harness/fault_coverage.ts';
import { CP_PROPERTIES } from '../model/cp_obligations.ts';
import { SOMETIMES } from '../properties/properties.ts';
import type { PoolOutcome, Shard } from './campaign_pool.ts';

export const CHECK_RESULT_FORMAT = 'cpsync-check-result/1';
export const DEFAULT_MAX_STEPS = 60;
/** Seconds without a finished schedule (or an answer from a node) before a target counts as hung. */
export const DEFAULT_HANG_TIMEOUT = 60;

/** The options that decide which runs a campaign has (its `reproduce:` line repeats them). */
export interface CampaignIdentity {
  readonly target: string;
  readonly seed: number;
  readonly maxSteps: number;
  readonly swarm: boolean;
  readonly model: boolean;
  /** `--check-determinism`: every schedule is run twice and the transcripts compared. */
  readonly checkDeterminism: boolean;
  /** `--hang-timeout`, in seconds: how slow a target may be before it counts as hung. */
  readonly hangTimeout: number;
}

export interface CheckSummary extends CampaignIdentity {
  readonly format: typeof CHECK_RESULT_FORMAT;
  readonly expected: 'pass' | 'fail';
  /** `--runs` of the whole campaign; null when a time budget (`--time`) decided. */
  readonly runsOption: number | null;
  readonly timeSeconds: number | null;
  /** `k/K` with `--shard`; null for a whole campaign. */
  readonly shard: string | null;
  /** Set by `cpsync merge`: how many shard results it combined. */
  readonly mergedShards: number | null;
  readonly workers: number;
  /** Schedules run (shrink attempts not included). */
  readonly runs: number;
  readonly steps: number;
  readonly observedSteps: number;
  readonly ticks: number;
  /** Runs numbered below this were run (this shard's): `--runs runsBound` runs them again. */
  readonly runsBound: number;
  readonly result: 'pass' | 'fail' | 'incomplete';
  /** 1-based number of the first failing run, in seed order; null when none failed. */
  readonly failureRun: number | null;
  /** Same as failureRun (the name older scripts read). */
  readonly runsToFailure: number | null;
  /** False when the campaign stopped at a failure: its `sometimes` goals were not all given a chance. */
  readonly sometimesJudged: boolean;
  readonly unreached: readonly string[];
  readonly property: string | null;
  readonly message: string | null;
  readonly counterexample: string | null;
  readonly shrunkSteps: number | null;
  readonly shrinkAttempts: number | null;
  readonly shrinkSeconds: number | null;
  /** Wall-clock seconds of the runs (the shrink excluded). */
  readonly seconds: number;
  readonly schedulesPerSecond: number;
  readonly stepsPerSecond: number;
  readonly sometimes: Readonly<Record<string, number>>;
  /** Per fault class or situation (harness/fault_coverage.ts), the schedules that exercised it. */
  readonly faultCoverage: Readonly<Record<string, number>>;
  readonly reproduce: string;
}

/** `sometimes` goals that only the model in lockstep records (its CP milestones). */
const MODEL_GOALS: ReadonlySet<string> = new Set(
  CP_PROPERTIES.flatMap((p) => p.partners as readonly string[]),
);

/** The goals a campaign counts: the model's own only with the model on. */
export function goalsFor(model: boolean): string[] {
  return SOMETIMES.map((p) => p.name).filter((n) => model || !MODEL_GOALS.has(n));
}

export function resultOf(failed: boolean, unreached: readonly string[]): CheckSummary['result'] {
  return failed ? 'fail' : unreached.length > 0 ? 'incomplete' : 'pass';
}

/** 0 held, 1 a counterexample, 4 held but some `sometimes` goal was never reached. */
export function exitCodeOf(s: Pick<CheckSummary, 'result'>): number {
  return s.result === 'fail' ? 1 : s.result === 'incomplete' ? 4 : 0;
}

/** A word a shell takes as it is, or quoted. */
function shellWord(w: string): string {
  return /^[\w./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The command that runs the same runs again: every option that changes what runs, and no other. */
export function reproduceLine(c: CampaignIdentity, runs: number, shard: string | null): string {
  const words = ['cpsync', 'check', '--target', c.target, '--seed', String(c.seed), '--runs', String(runs)];
  if (c.maxSteps !== DEFAULT_MAX_STEPS) words.push('--max-steps', String(c.maxSteps));
  if (c.swarm) words.push('--swarm');
  if (!c.model) words.push('--no-model');
  if (c.checkDeterminism) words.push('--check-determinism');
  if (c.hangTimeout !== DEFAULT_HANG_TIMEOUT) words.push('--hang-timeout', String(c.hangTimeout));
  if (shard !== null) words.push('--shard', shard);
  return words.map(shellWord).join(' ');
}

export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

/** Every fault class, in FAULT_CLASSES order, with the schedules that exercised it (0 included). */
export function coverageInOrder(counts: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(FAULT_CLASSES.map((c) => [c, counts[c] ?? 0]));
}

/** One line: what the schedules exercised, as a share of them, the classes never reached named. */
export function coverageLine(counts: Readonly<Record<string, number>>, runs: number): string {
  const pct = (n: number) => `${Math.round((100 * n) / Math.max(runs, 1))}%`;
  const seen = FAULT_CLASSES.filter((c) => (counts[c] ?? 0) > 0);
  const never = FAULT_CLASSES.filter((c) => (counts[c] ?? 0) === 0);
  return (
    `faults: ${seen.map((c) => `${c} ${pct(counts[c]!)}`).join(', ')}` +
    (never.length > 0 ? `; never: ${never.join(', ')}` : '')
  );
}

/** The lines a person reads. */
export function printSummary(s: CheckSummary, cx: Counterexample | undefined): void {
  const workers =
    s.mergedShards !== null
      ? `${s.mergedShards} shards merged`
      : `${s.workers} worker${s.workers === 1 ? '' : 's'}`;
  const part = s.shard !== null ? `, shard ${s.shard}` : '';
  console.log(`target ${s.target} (expected to ${s.expected}), seed ${s.seed}${part}, ${workers}`);
  const budget = s.timeSeconds !== null ? `within --time ${s.timeSeconds}: ` : '';
  const stopped = s.failureRun !== null ? `stopped at the first failure, in schedule ${s.failureRun}: ` : '';
  console.log(
    `${stopped}${budget}${s.runs} schedules, ${s.steps} actions, ${s.observedSteps} lockstep steps in ${s.seconds} s: ${s.schedulesPerSecond} schedules/s, ${s.stepsPerSecond} steps/s`,
  );
  const goals = Object.keys(s.sometimes).length + s.unreached.length;
  const reached = goals - s.unreached.length;
  if (!s.sometimesJudged)
    console.log(
      `sometimes: not judged, the campaign stopped at its first failure (${reached} of ${goals} reached by then)`,
    );
  else
    console.log(
      `sometimes: ${reached} of ${goals} reached` +
        (s.unreached.length > 0
          ? ` (never: ${s.unreached.join(', ')}; more runs or --swarm reach them)`
          : ''),
    );
  console.log(coverageLine(s.faultCoverage, s.runs));
  if (s.result !== 'fail') {
    console.log(
      s.result === 'incomplete'
        ? 'INCOMPLETE: every property held, but not every sometimes goal was reached (exit 4)'
        : 'every property held',
    );
  } else if (cx) {
    console.log(`VIOLATED ${cx.property}: ${cx.message}`);
    const attempts =
      s.shrinkAttempts === null ? '' : ` in ${s.shrinkAttempts} shrink attempts (${s.shrinkSeconds} s)`;
    console.log(`shrunk to ${cx.schedule.actions.length} actions${attempts}:`);
    for (const line of cx.readable.slice(0, cx.schedule.actions.length + 1)) console.log(`  ${line}`);
  } else {
    console.log(`VIOLATED ${s.property}: ${s.message}`);
  }
  if (s.counterexample !== null) {
    console.log(`counterexample: ${s.counterexample}`);
    console.log(
      `replay: cpsync replay ${shellWord(s.counterexample)}` +
        (cx ? `    (fast-check seed ${cx.seed}, path ${cx.path})` : ''),
    );
  }
  const note = s.timeSeconds !== null ? `    (the runs --time ${s.timeSeconds} reached)` : '';
  console.log(`reproduce: ${s.reproduce}${s.mergedShards === null ? note : ''}`);
}

export interface CheckFacts {
  readonly identity: CampaignIdentity;
  readonly expected: 'pass' | 'fail';
  readonly runsOption: number | null;
  readonly timeSeconds: number | null;
  readonly shard: Shard | null;
  readonly outcome: PoolOutcome;
  readonly counterexample?: Counterexample;
  readonly counterexampleFile: string | null;
}

export function shardName(shard: Shard): string {
  return `${shard.index + 1}/${shard.count}`;
}

/** The summary of one `cpsync check`. */
export function checkSummary(f: CheckFacts): CheckSummary {
  const { share, shrunk } = f.outcome;
  const cx = f.counterexample;
  const seconds = Math.max(f.outcome.campaignSeconds, 1e-3);
  const sometimes = Object.fromEntries(
    Object.entries(share.sometimes).sort(([a], [b]) => a.localeCompare(b)),
  );
  // A campaign that held every property but never reached some `sometimes` goal proves less than it
  // seems: its result is 'incomplete' and it exits 4. The model's goals count only with the model on.
  const unreached = goalsFor(f.identity.model).filter((n) => !share.sometimes[n]);
  const failed = share.failure !== null;
  const shard = f.shard === null ? null : shardName(f.shard);
  const failureRun = failed ? share.failure! + 1 : null;
  return {
    format: CHECK_RESULT_FORMAT,
    ...f.identity,
    expected: f.expected,
    runsOption: f.runsOption,
    timeSeconds: f.timeSeconds,
    shard,
    mergedShards: null,
    workers: f.outcome.workers,
    runs: share.runs,
    steps: share.steps,
    observedSteps: share.observedSteps,
    ticks: share.ticks,
    runsBound: f.outcome.runsBound,
    result: resultOf(failed, unreached),
    failureRun,
    runsToFailure: failureRun,
    sometimesJudged: !failed,
    unreached,
    property: cx?.property ?? null,
    message: cx?.message ?? null,
    counterexample: f.counterexampleFile,
    shrunkSteps: cx?.schedule.actions.length ?? null,
    shrinkAttempts: shrunk?.shrinkAttempts ?? null,
    shrinkSeconds: shrunk ? round(shrunk.seconds, 3) : null,
    seconds: round(seconds, 3),
    schedulesPerSecond: round(share.runs / seconds, 1),
    stepsPerSecond: Math.round(share.observedSteps / seconds),
    sometimes,
    faultCoverage: coverageInOrder(share.faultCoverage),
    // A time budget's runs are repeated by their count; a run count by itself.
    reproduce: reproduceLine(f.identity, f.runsOption ?? f.outcome.runsBound, shard),
  };
}
