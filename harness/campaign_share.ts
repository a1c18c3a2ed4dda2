// A campaign as numbered runs, so that any worker, thread or machine can run any share of it: run i's
// schedule is drawn from (campaign seed, i) alone, and the first failing run in seed order is the one
// shrunk and reported, however the runs were shared out (cli/campaign_pool.ts, `--shard`, `cpsync merge`).
//
// fast-check draws run i of a check from its seed and i alone (it jumps its generator once per run), and
// its `path` option starts a check at run i without drawing the runs before it. Runs are grouped in
// blocks of BLOCK_RUNS under one fast-check seed, so that starting at run i costs at most BLOCK_RUNS
// jumps; block 0's seed is the campaign seed itself, so the first BLOCK_RUNS runs are exactly those
// `runCampaign` (harness/campaign.ts) draws, and so are its counterexamples, fast-check path included.

import fc from 'fast-check';
import { type CampaignOptions, type Counterexample, LIVENESS_TICKS, toCounterexample } from './campaign.ts';
import { runScheduleTwice } from './determinism.ts';
import { Prng } from './prng.ts';
import { type LockstepChecker, type RunResult, runSchedule } from './runner.ts';
import { type Schedule, type ScheduleOptions, scheduleArb } from './schedule.ts';
import type { ConformanceTarget } from './target.ts';

/** Runs that share one fast-check seed. */
export const BLOCK_RUNS = 1000;
/** Runs handed out together, and the unit `--shard` deals out: SLICE_RUNS divides BLOCK_RUNS. */
export const SLICE_RUNS = 8;
/** Campaign seeds are 31-bit: fast-check keeps 32 bits of a seed, and every such seed prints exactly. */
export const MAX_CAMPAIGN_SEED = 0x7fffffff;

/** The fast-check seed of block `block` of campaign `seed`: the seed itself for block 0. */
export function blockSeed(seed: number, block: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > MAX_CAMPAIGN_SEED)
    throw new RangeError(`campaign seed ${seed} is not an integer from 0 to ${MAX_CAMPAIGN_SEED}`);
  if (block === 0) return seed;
  // Two draws of the project's PRNG: one keyed by the seed, one by that key and the block number.
  const key = new Prng(seed).u32();
  return new Prng((key + block) >>> 0).u32() >>> 1;
}

/** Slice `slice`'s runs, cut at `runs` (the campaign's run count; Infinity for a time budget). */
export function sliceRange(slice: number, runs: number): { readonly from: number; readonly count: number } {
  const from = slice * SLICE_RUNS;
  return { from, count: Math.max(0, Math.min(SLICE_RUNS, runs - from)) };
}

export interface ShareOptions extends ScheduleOptions {
  /** The campaign seed (0 .. MAX_CAMPAIGN_SEED). */
  readonly seed: number;
  readonly checkers?: () => readonly LockstepChecker[];
  readonly version: string;
  /** Called after each run (run index, its result): progress, and the hang watchdog's heartbeat. */
  readonly onRun?: (run: number, result: RunResult) => void;
  /**
   * Called before each schedule the final polish of a shrunk counterexample runs (harness/shrink.ts,
   * through toCounterexample), with the model on: a heartbeat where onRun is not called.
   */
  readonly onPolishRun?: () => void;
  /** Run every schedule twice and compare the transcripts (harness/determinism.ts). */
  readonly checkDeterminism?: boolean;
}

/** What a share of runs found: plain data (it crosses threads and goes into --json). */
export interface ShareResult {
  /** The first run index of the share. */
  readonly from: number;
  /** Runs that ran: the whole share, or up to and including its first failure. */
  readonly runs: number;
  readonly steps: number;
  readonly observedSteps: number;
  readonly ticks: number;
  /** Per `sometimes` goal, the runs that reached it. */
  readonly sometimes: Readonly<Record<string, number>>;
  /** Per fault class or situation (harness/fault_coverage.ts), the runs that exercised it. */
  readonly faultCoverage: Readonly<Record<string, number>>;
  /** The run index of the share's first failure, or null. */
  readonly failure: number | null;
}

/** The empty share at `from`: what a combination starts from. */
export function emptyShare(from: number): ShareResult {
  return {
    from,
    runs: 0,
    steps: 0,
    observedSteps: 0,
    ticks: 0,
    sometimes: {},
    faultCoverage: {},
    failure: null,
  };
}

/** `a` then `b`: their runs and counts added; the failure is the earlier one. */
export function combineShares(a: ShareResult, b: ShareResult): ShareResult {
  const sometimes = addCounts(a.sometimes, b.sometimes);
  const faultCoverage = addCounts(a.faultCoverage, b.faultCoverage);
  const failures = [a.failure, b.failure].filter((f): f is number => f !== null);
  return {
    from: Math.min(a.from, b.from),
    runs: a.runs + b.runs,
    steps: a.steps + b.steps,
    observedSteps: a.observedSteps + b.observedSteps,
    ticks: a.ticks + b.ticks,
    sometimes,
    faultCoverage,
    failure: failures.length > 0 ? Math.min(...failures) : null,
  };
}

function addCounts(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [name, n] of Object.entries(b)) out[name] = (out[name] ?? 0) + n;
  return out;
}

function checkRange(from: number, count: number): { block: number; offset: number } {
  const block = Math.floor(from / BLOCK_RUNS);
  const offset = from - block * BLOCK_RUNS;
  if (!Number.isSafeInteger(from) || from < 0 || count < 1 || offset + count > BLOCK_RUNS)
    throw new RangeError(`runs [${from}, ${from + count}) are not within one block of ${BLOCK_RUNS}`);
  return { block, offset };
}

function property(target: ConformanceTarget, options: ShareOptions, onResult: (r: RunResult) => void) {
  return fc.property(scheduleArb(options), (schedule: Schedule) => {
    // As runCampaign runs a schedule: the same liveness phase and checkers, so the same verdicts.
    const result = options.checkDeterminism
      ? runScheduleTwice(target, schedule, {
          livenessTicks: LIVENESS_TICKS,
          ...(options.checkers ? { checkers: options.checkers } : {}),
        })
      : runSchedule(target, schedule, {
          livenessTicks: LIVENESS_TICKS,
          checkers: options.checkers?.() ?? [],
        });
    onResult(result);
    return result.ok;
  });
}

/** Runs [from, from + count), within one block; stops at the first failure, unshrunk. */
export function runShare(
  target: ConformanceTarget,
  from: number,
  count: number,
  options: ShareOptions,
): ShareResult {
  const { block, offset } = checkRange(from, count);
  let runs = 0;
  let steps = 0;
  let observedSteps = 0;
  let ticks = 0;
  let failure: number | null = null;
  const sometimes: Record<string, number> = {};
  const faultCoverage: Record<string, number> = {};
  const prop = property(target, options, (result) => {
    const run = from + runs;
    runs++;
    steps += result.steps;
    observedSteps += result.observedSteps;
    ticks += result.ticks;
    for (const name of result.sometimes) sometimes[name] = (sometimes[name] ?? 0) + 1;
    for (const name of result.coverage) faultCoverage[name] = (faultCoverage[name] ?? 0) + 1;
    if (!result.ok && failure === null) failure = run;
    options.onRun?.(run, result);
  });
  fc.check(prop, {
    seed: blockSeed(options.seed, block),
    path: String(offset),
    numRuns: count,
    endOnFailure: true,
  });
  return { from, runs, steps, observedSteps, ticks, sometimes, faultCoverage, failure };
}

export interface ShrunkRun {
  readonly counterexample: Counterexample;
  /** Schedules the shrinker ran after the failing run itself. */
  readonly shrinkAttempts: number;
}

/**
 * Runs run `run` again and lets fast-check shrink it: the counterexample any share of the campaign
 * reports for that run. Its fast-check seed is the run's block seed, its path starts at the run's offset.
 */
export function shrinkRun(target: ConformanceTarget, run: number, options: ShareOptions): ShrunkRun {
  const { block, offset } = checkRange(run, 1);
  let calls = 0;
  const prop = property(target, options, (result) => {
    options.onRun?.(run, result);
    calls++;
  });
  const details = fc.check(prop, { seed: blockSeed(options.seed, block), path: String(offset), numRuns: 1 });
  const shrunk = details.counterexample?.[0];
  if (!details.failed || shrunk === undefined)
    throw new Error(`run ${run} of campaign seed ${options.seed} did not fail again when shrunk`);
  const { checkers, onPolishRun } = options;
  // toCounterexample asks for the checkers once per schedule it runs: the heartbeat rides on that.
  const beating = () => {
    onPolishRun?.();
    return checkers!();
  };
  const polishing = checkers && onPolishRun ? { checkers: beating } : {};
  const campaign: CampaignOptions = { ...options, runs: 1, ...polishing };
  const counterexample = toCounterexample(
    target,
    shrunk,
    details.seed,
    details.counterexamplePath ?? '',
    campaign,
  );
  return { counterexample, shrinkAttempts: calls - 1 };
}
