// `cpsync merge FILES...`: the `check --json` results of the K shards of one campaign (`--shard k/K`,
// one per machine of a CI matrix) combined into that campaign's result. Runs and counts add up; the
// verdict is the first failure in seed order among the shards, the one the campaign run whole would
// report (each shard shrank its own first failure, and a run's counterexample depends on the run alone).

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Counterexample } from '../harness/campaign.ts';
import {
  CHECK_RESULT_FORMAT,
  type CheckSummary,
  coverageInOrder,
  DEFAULT_HANG_TIMEOUT,
  goalsFor,
  reproduceLine,
  resultOf,
  round,
} from './campaign_summary.ts';
import { UsageError } from './usage_error.ts';

const count = z.int().min(0);
const nullable = <T extends z.ZodType>(t: T) => t.nullable();

/** The fields of a check result that merging reads; others are recomputed. */
const shardResult = z.looseObject({
  format: z.literal(CHECK_RESULT_FORMAT),
  target: z.string().min(1),
  expected: z.enum(['pass', 'fail']),
  seed: count,
  maxSteps: count,
  swarm: z.boolean(),
  model: z.boolean(),
  // Results written before these were recorded ran with the defaults.
  checkDeterminism: z.boolean().default(false),
  hangTimeout: z.int().min(1).default(DEFAULT_HANG_TIMEOUT),
  runsOption: nullable(count),
  timeSeconds: nullable(count),
  shard: z.string().regex(/^\d+\/\d+$/, 'expected k/K: merge combines the results of check --shard k/K'),
  workers: count,
  runs: count,
  steps: count,
  observedSteps: count,
  ticks: count,
  runsBound: count,
  result: z.enum(['pass', 'fail', 'incomplete']),
  failureRun: nullable(z.int().min(1)),
  property: nullable(z.string()),
  message: nullable(z.string()),
  counterexample: nullable(z.string()),
  shrunkSteps: nullable(count),
  shrinkAttempts: nullable(count),
  shrinkSeconds: nullable(z.number().min(0)),
  seconds: z.number().min(0),
  sometimes: z.record(z.string(), count),
  faultCoverage: z.record(z.string(), count),
  reproduce: z.string(),
});

type ShardResult = z.infer<typeof shardResult>;

function readResult(file: string): ShardResult {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why = e instanceof SyntaxError ? 'it is not JSON' : e instanceof Error ? e.message : String(e);
    throw new UsageError(`cannot merge ${file}: ${why}`);
  }
  if ((data as { format?: unknown } | null)?.format !== CHECK_RESULT_FORMAT)
    throw new UsageError(`cannot merge ${file}: it is not the output of cpsync check --json`);
  const parsed = shardResult.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`cannot merge ${file}: ${issue.path.join('.') || '(the file)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** The fields every shard of one campaign shares, and what the first file says of them. */
const SAME = [
  'target',
  'expected',
  'seed',
  'maxSteps',
  'swarm',
  'model',
  'checkDeterminism',
  'hangTimeout',
  'runsOption',
] as const;

export interface Merged {
  readonly summary: CheckSummary;
  /** The failure's counterexample, when its file can still be read. */
  readonly counterexample?: Counterexample;
}

export function mergeResults(
  files: readonly string[],
  readCounterexample: (file: string) => Counterexample,
): Merged {
  const results = files.map((file) => ({ file, r: readResult(file) }));
  const first = results[0]!;
  for (const { file, r } of results)
    for (const key of SAME)
      if (r[key] !== first.r[key])
        throw new UsageError(
          `cannot merge ${file} with ${first.file}: another campaign (${key} ${JSON.stringify(r[key])}, not ${JSON.stringify(first.r[key])})`,
        );
  const shardCount = Number(first.r.shard.split('/')[1]);
  const seen = new Map<number, string>();
  for (const { file, r } of results) {
    const [k, of] = r.shard.split('/').map(Number) as [number, number];
    if (of !== shardCount)
      throw new UsageError(`cannot merge ${file}: shard ${r.shard} is not one of ${shardCount} shards`);
    if (seen.has(k)) throw new UsageError(`cannot merge ${file}: shard ${r.shard} is ${seen.get(k)} too`);
    seen.set(k, file);
  }
  const missing = Array.from({ length: shardCount }, (_, i) => i + 1).filter((k) => !seen.has(k));
  if (missing.length > 0)
    throw new UsageError(
      `cannot merge: shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${shardCount}`).join(', ')} missing, so the campaign is not whole`,
    );
  return {
    ...combine(
      results.map((x) => x.r),
      first.r,
      shardCount,
      readCounterexample,
    ),
  };
}

function combine(
  rs: readonly ShardResult[],
  c: ShardResult,
  shardCount: number,
  readCounterexample: (file: string) => Counterexample,
): Merged {
  const sum = (f: (r: ShardResult) => number) => rs.reduce((n, r) => n + f(r), 0);
  const sometimes: Record<string, number> = {};
  for (const r of rs)
    for (const [k, n] of Object.entries(r.sometimes)) sometimes[k] = (sometimes[k] ?? 0) + n;
  const sorted = Object.fromEntries(Object.entries(sometimes).sort(([a], [b]) => a.localeCompare(b)));
  const faults: Record<string, number> = {};
  for (const r of rs) for (const [k, n] of Object.entries(r.faultCoverage)) faults[k] = (faults[k] ?? 0) + n;
  // The first failure in seed order is the campaign's: the one it would report run whole.
  const failing = rs.filter((r) => r.failureRun !== null).sort((a, b) => a.failureRun! - b.failureRun!)[0];
  const unreached = goalsFor(c.model).filter((n) => !sometimes[n]);
  // The shards ran side by side: the campaign took as long as the slowest.
  const seconds = Math.max(1e-3, ...rs.map((r) => r.seconds));
  const runs = sum((r) => r.runs);
  const observedSteps = sum((r) => r.observedSteps);
  const identity = {
    target: c.target,
    seed: c.seed,
    maxSteps: c.maxSteps,
    swarm: c.swarm,
    model: c.model,
    checkDeterminism: c.checkDeterminism,
    hangTimeout: c.hangTimeout,
  };
  const reproduce =
    c.runsOption !== null
      ? reproduceLine(identity, c.runsOption, null)
      : failing
        ? failing.reproduce
        : rs.map((r) => r.reproduce).join(' ; ');
  let counterexample: Counterexample | undefined;
  if (failing?.counterexample)
    try {
      counterexample = readCounterexample(failing.counterexample);
    } catch {
      // Printed without its steps: the summary still names the file and the property.
    }
  const summary: CheckSummary = {
    format: CHECK_RESULT_FORMAT,
    ...identity,
    expected: c.expected,
    runsOption: c.runsOption,
    timeSeconds: c.timeSeconds,
    shard: null,
    mergedShards: shardCount,
    workers: sum((r) => r.workers),
    runs,
    steps: sum((r) => r.steps),
    observedSteps,
    ticks: sum((r) => r.ticks),
    runsBound: Math.max(...rs.map((r) => r.runsBound)),
    result: resultOf(failing !== undefined, unreached),
    failureRun: failing?.failureRun ?? null,
    runsToFailure: failing?.failureRun ?? null,
    sometimesJudged: failing === undefined,
    unreached,
    property: failing?.property ?? null,
    message: failing?.message ?? null,
    counterexample: failing?.counterexample ?? null,
    shrunkSteps: failing?.shrunkSteps ?? null,
    shrinkAttempts: failing?.shrinkAttempts ?? null,
    shrinkSeconds: failing?.shrinkSeconds ?? null,
    seconds: round(seconds, 3),
    schedulesPerSecond: round(runs / seconds, 1),
    stepsPerSecond: Math.round(observedSteps / seconds),
    sometimes: sorted,
    faultCoverage: coverageInOrder(faults),
    reproduce,
  };
  return counterexample ? { summary, counterexample } : { summary };
}
