// The `cpsync` command line: `check` runs a conformance campaign against a target (on a pool of worker
// threads, or one shard of it), `merge` combines the results of shards, `replay` runs a saved
// counterexample again, `shrink` shrinks a saved one again, `report` draws one, `crash-points` cuts
// power at every media write of one operation, `serve-target` speaks the process-target protocol for
// one node, `targets` lists the built-in targets. Exit codes: 0 every property held (or a replay no
// longer fails), 1 a counterexample was found (or reproduces), 2 a usage or input error.
// This is the one place that reads the clock (for throughput figures) and writes files.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type Counterexample, readableSteps, replayCounterexample } from '../harness/campaign.ts';
import { MAX_CAMPAIGN_SEED, SLICE_RUNS } from '../harness/campaign_share.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { COMMAND_TARGET_PREFIX } from '../harness/process_target.ts';
import { serveTarget } from '../harness/serve_target.ts';
import { ALL_NAMED_TARGETS, loadTarget, TargetLoadError } from '../harness/targets.ts';
import {
  defaultWorkers,
  runCampaignPool,
  type Shard,
  shardRuns,
  TargetHang,
  WHOLE,
} from './campaign_pool.ts';
import {
  checkSummary,
  DEFAULT_HANG_TIMEOUT,
  DEFAULT_MAX_STEPS,
  exitCodeOf,
  goalsFor,
  printSummary,
} from './campaign_summary.ts';
import { checkOutDir, saveCounterexample } from './counterexample_file.ts';
import { parseCounterexample } from './counterexample_schema.ts';
import { type CrashPointsCommandOptions, crashPointsCommand } from './crash_points_command.ts';
import { mergeResults } from './merge.ts';
import {
  defaultReportPath,
  ReportError,
  recordForReport,
  writeCampaignReport,
  writeCounterexampleReport,
} from './report_files.ts';
import { type ShrinkCommandOptions, shrinkCommand } from './shrink_command.ts';
import { UsageError } from './usage_error.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Decimal digits only, within [min, max]: a number that prints back exactly as it was given. */
function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

const MAX_SHARDS = 10_000;

/** `k/K`: the k-th of K parts of the seed space (1-based). */
function shard(value: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const k = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || !Number.isSafeInteger(count) || count < 1 || count > MAX_SHARDS || k < 1 || k > count)
    throw new InvalidArgumentError(`--shard must be k/K with 1 <= k <= K <= ${MAX_SHARDS}, for example 2/4`);
  return { index: k - 1, count };
}

interface CheckOptions {
  target: string;
  targetCmd?: string;
  checkDeterminism: boolean;
  runs: number;
  time?: number;
  shard?: Shard;
  workers: number;
  seed?: number;
  maxSteps: number;
  swarm: boolean;
  json: boolean;
  model: boolean;
  out: string;
  hangTimeout: number;
  html?: string;
}

async function check(o: CheckOptions): Promise<number> {
  // A process target is named by its command, `cmd:COMMAND ARGS`: the counterexample records it.
  if (o.targetCmd !== undefined) o.target = `${COMMAND_TARGET_PREFIX}${o.targetCmd}`;
  const isProcess = o.target.startsWith(COMMAND_TARGET_PREFIX);
  const target = await loadTarget(o.target);
  // A folder that cannot take the counterexample is said now, not after the campaign found one.
  checkOutDir(o.out);
  // A seed drawn from the clock when none is given; printed, so the run can be repeated exactly.
  const seed = o.seed ?? Date.now() % (MAX_CAMPAIGN_SEED + 1);
  const part = o.shard ?? WHOLE;
  const runs = o.time === undefined ? o.runs : Number.POSITIVE_INFINITY;
  const mine = shardRuns(part, runs);
  const slices = Math.ceil(o.runs / SLICE_RUNS);
  if (mine === 0)
    throw new UsageError(
      `--shard ${part.index + 1}/${part.count} has no runs: --runs ${o.runs} makes ${slices} slice${slices === 1 ? '' : 's'} of ${SLICE_RUNS} runs, dealt to the shards in turn`,
    );
  const bar =
    !o.json && process.stderr.isTTY
      ? new SingleBar({
          format:
            o.time === undefined
              ? 'checking {bar} {value}/{total} schedules | {steps} steps'
              : 'checking {value} schedules | {steps} steps | {duration} s',
          hideCursor: true,
        })
      : null;
  bar?.start(Number.isFinite(mine) ? mine : 0, 0, { steps: 0 });
  // On a pool of threads, watched: a target that hangs ends the campaign with one line instead of hanging it.
  const identity = {
    target: o.target,
    seed,
    maxSteps: o.maxSteps,
    swarm: o.swarm,
    model: o.model,
    checkDeterminism: o.checkDeterminism,
    hangTimeout: o.hangTimeout,
  };
  const coverage = o.html !== undefined; // what the campaign visited, for its HTML report
  const plan = {
    runs,
    seconds: o.time ?? null,
    shard: part,
    workers: o.workers,
    hangMs: o.hangTimeout * 1000,
  };
  const processJob = {
    ...(isProcess ? { hangTimeoutMs: o.hangTimeout * 1000 } : {}),
    ...(o.checkDeterminism ? { checkDeterminism: true } : {}),
  };
  // A node that stops answering is named by the process target itself, before the pool's watchdog fires.
  if (isProcess) plan.hangMs = 3 * plan.hangMs + 10_000;
  const outcome = await runCampaignPool(
    {
      target: o.target,
      seed,
      maxSteps: o.maxSteps,
      swarm: o.swarm,
      model: o.model,
      coverage,
      version: VERSION,
      ...processJob,
    },
    plan,
    (n, steps) => bar?.update(n, { steps }),
  ).finally(() => bar?.stop());
  // A module target is named by its path in the file, so that `cpsync replay` can load it again.
  const cx = outcome.shrunk && { ...outcome.shrunk.counterexample, target: o.target };
  const saved = cx ? saveCounterexample(cx, o.out, target.name) : undefined;
  const summary = checkSummary({
    identity,
    expected: target.expected,
    runsOption: o.time === undefined ? o.runs : null,
    timeSeconds: o.time ?? null,
    shard: o.shard ?? null,
    outcome,
    ...(cx ? { counterexample: cx } : {}),
    counterexampleFile: saved?.file ?? null,
  });
  if (o.json) console.log(JSON.stringify(summary));
  else printSummary(summary, cx);
  // Nowhere could take the file: the counterexample is printed whole, so nothing is lost.
  if (cx && saved?.file === null) console.log(JSON.stringify(cx, null, 2));
  const file = saved?.file ?? undefined;
  if (o.html) {
    writeCampaignReport(o.html, {
      summary,
      goals: goalsFor(o.model),
      ...(outcome.coverage ? { coverage: outcome.coverage } : {}),
      ...(cx && file ? { failure: { cx, record: recordForReport(target, cx, o.model), file } } : {}),
    });
    if (!o.json) console.log(`report: ${o.html}`);
  }
  if (saved?.problem) {
    console.error(`cpsync: ${saved.problem}`);
    return 2;
  }
  return exitCodeOf(summary);
}

/** Reads and validates a counterexample file (cli/counterexample_schema.ts): a UsageError names the field. */
export function readCounterexample(file: string): Counterexample {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let cx: unknown;
  try {
    cx = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not JSON, so it is not a cpsync counterexample`);
  }
  return parseCounterexample(cx, file);
}

async function replay(file: string, o: { json: boolean; model: boolean; html?: string }): Promise<number> {
  const cx = readCounterexample(file);
  const target = await loadTarget(cx.target);
  // The model runs in lockstep when it did in the run that found the counterexample (and --no-model is absent).
  const record = o.html ? recordForReport(target, cx, o.model) : undefined;
  const result =
    record?.result ??
    replayCounterexample(target, cx, o.model && cx.lockstep !== false ? modelCheckers() : []);
  const v = result.violation;
  // The schema keeps out what the world cannot run; should something still slip through, it is the
  // file's fault or the harness's, never the target's.
  if (v?.property === 'harness-error')
    throw new UsageError(
      `${file}: the harness cannot run this schedule (not the target's fault): ${v.message}`,
    );
  if (o.json) {
    console.log(
      JSON.stringify({
        target: cx.target,
        file,
        result: v ? 'fail' : 'pass',
        reproduces: v !== undefined,
        property: v?.property ?? null,
        message: v?.message ?? null,
        step: v?.step ?? null,
        trace: result.trace,
      }),
    );
  } else {
    for (const line of readableSteps(result, v?.step ?? -1)) console.log(line);
    console.log('--- trace');
    for (const line of result.trace) console.log(line);
    console.log('---');
    console.log(
      v
        ? `VIOLATED ${v.property} at step ${v.step}: ${v.message}` +
            (v.property === cx.property ? '' : ` (the file recorded ${cx.property}: another failure now)`)
        : `no longer fails: every property held (was: ${cx.property})`,
    );
  }
  if (o.html && record) {
    writeCounterexampleReport(o.html, cx, record, file);
    if (!o.json) console.log(`report: ${o.html}`);
  }
  return v ? 1 : 0;
}

/** `cpsync report FILE`: the counterexample replayed and drawn, as one self-contained HTML file. */
async function report(file: string, o: { out?: string; model: boolean }): Promise<number> {
  const cx = readCounterexample(file);
  const record = recordForReport(await loadTarget(cx.target), cx, o.model);
  const out = o.out ?? defaultReportPath(file);
  writeCounterexampleReport(out, cx, record, file);
  const v = record.result.violation;
  console.log(
    `report: ${out} (${v ? `${v.property} at step ${v.step}` : `no longer fails: every property held (was: ${cx.property})`})`,
  );
  return 0;
}

/** `cpsync merge FILES...`: the shards' results as one campaign's (exit codes as `check`). */
function merge(files: readonly string[], o: { json: boolean }): number {
  const { summary, counterexample } = mergeResults(files, readCounterexample);
  if (o.json) console.log(JSON.stringify(summary));
  else printSummary(summary, counterexample);
  return exitCodeOf(summary);
}

function targets(o: { json: boolean }): number {
  const list = ALL_NAMED_TARGETS.map((t) => ({
    name: t.name,
    description: t.description,
    expected: t.expected,
  }));
  if (o.json) console.log(JSON.stringify(list));
  else
    for (const t of list)
      console.log(`${t.name.padEnd(32)} ${t.expected === 'pass' ? 'pass' : 'FAIL'}  ${t.description}`);
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = new Command()
    .name('cpsync')
    .description('conformance harness for consistency-point synchronous mirroring')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program
    .command('check')
    .description('run a conformance campaign against a target')
    .option('--target <name|path>', 'a built-in target (cpsync targets) or a module path', 'reference')
    .option(
      '--target-cmd <command>',
      'a process target: "COMMAND ARGS" is started once per node (docs/process-targets.md)',
    )
    .option('--check-determinism', 'run every schedule twice and compare the transcripts', false)
    .option('--runs <n>', 'schedules to run', integer('--runs', 1, 100_000_000), 200)
    .addOption(
      new Option('--time <s>', 'run until this many seconds have passed, instead of --runs')
        .argParser(integer('--time', 1, 7 * 24 * 3600))
        .conflicts('runs'),
    )
    .option(
      '--shard <k/K>',
      'run the k-th of K parts of the campaign (merge the results: cpsync merge)',
      shard,
    )
    .option(
      '--workers <n>',
      'worker threads (one per core of this machine by default)',
      integer('--workers', 1, 256),
      defaultWorkers(),
    )
    .option(
      '--seed <n>',
      'the campaign seed (default: drawn and printed)',
      integer('--seed', 0, MAX_CAMPAIGN_SEED),
    )
    .option(
      '--max-steps <n>',
      'actions per schedule at most',
      integer('--max-steps', 1, 10_000),
      DEFAULT_MAX_STEPS,
    )
    .option('--swarm', 'draw a mix of action kinds per schedule (swarm testing)', false)
    .option('--no-model', 'do not step the statechart model in lockstep')
    .option('--out <dir>', 'where counterexamples are written', 'reports/counterexamples')
    .option(
      '--hang-timeout <s>',
      'seconds without a finished schedule before the target counts as hung',
      integer('--hang-timeout', 1, 24 * 3600),
      DEFAULT_HANG_TIMEOUT,
    )
    .option('--json', 'print one JSON object', false)
    .option('--html <file>', 'also write an HTML report of the campaign')
    .action(async (o: CheckOptions) => {
      code = await check(o);
    });
  program
    .command('merge <files...>')
    .description('combine the --json results of the shards of one campaign (check --shard k/K)')
    .option('--json', 'print one JSON object', false)
    .action((files: string[], o: { json: boolean }) => {
      code = merge(files, o);
    });
  program
    .command('replay <file>')
    .description('run a saved counterexample again and print its trace')
    .option('--no-model', 'do not step the statechart model in lockstep')
    .option('--json', 'print one JSON object', false)
    .option('--html <file>', 'also write an HTML report of the run')
    .action(async (file: string, o: { json: boolean; model: boolean; html?: string }) => {
      code = await replay(file, o);
    });
  program
    .command('shrink <file>')
    .description(
      'shrink a saved counterexample again (the current shrinker, then a search of its subsequences) and write it back',
    )
    .option('-o, --out <file>', 'write it here instead of over <file>')
    .option('--no-model', 'do not step the statechart model in lockstep')
    .option('--json', 'print one JSON object', false)
    .action(async (file: string, o: ShrinkCommandOptions) => {
      code = await shrinkCommand(file, o, readCounterexample, VERSION);
    });
  program
    .command('report <file>')
    .description("write a counterexample's HTML report: its sequence diagram and steps (exit 0 when written)")
    .option('-o, --out <file>', 'where to write it (default: the counterexample with .html for .json)')
    .option('--no-model', 'do not step the statechart model in lockstep')
    .action(async (file: string, o: { out?: string; model: boolean }) => {
      code = await report(file, o);
    });
  program
    .command('crash-points')
    .description(
      'cut power at every media write of the next operation of a kind, after a prefix, and check each run',
    )
    .requiredOption(
      '--kind <kind>',
      'source-cp, cp-sync-apply, log-append, resync-transfer or failover-replay',
    )
    .option('--target <name|path>', 'a built-in target (cpsync targets) or a module path', 'reference')
    .option(
      '--from <file>',
      "a counterexample whose schedule is the prefix (default: a write and a CP's ticks)",
    )
    .option('--mode <mode>', 'the default prefix: sync, strict-sync or semi-sync', 'sync')
    .option('--seed <n>', "the default prefix's world seed", integer('--seed', 0, MAX_CAMPAIGN_SEED), 1)
    .option('--torn <how>', 'the cut write: torn, whole or both', 'torn')
    .option('--no-model', 'do not step the statechart model in lockstep')
    .option('--out <dir>', 'where the first failing point is written', 'reports/counterexamples')
    .option('--json', 'print one JSON object', false)
    .action(async (o: CrashPointsCommandOptions) => {
      code = await crashPointsCommand(o, readCounterexample, VERSION);
    });
  program
    .command('serve-target <target>')
    .description(
      'speak the process-target protocol on stdin/stdout for one node of a built-in or module target',
    )
    .action(async (name: string) => {
      const t = await loadTarget(name);
      if (t.name.startsWith(COMMAND_TARGET_PREFIX))
        throw new UsageError('serve-target serves in-process targets');
      serveTarget(t);
      code = 0;
    });
  program
    .command('targets')
    .description('list the built-in targets')
    .option('--json', 'print a JSON array', false)
    .action((o: { json: boolean }) => {
      code = targets(o);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError || e instanceof TargetLoadError || e instanceof ReportError) {
      console.error(`cpsync: ${e.message}`);
      return 2;
    }
    // A hung target is a finding about the target, not a usage error; there is no schedule to shrink.
    if (e instanceof TargetHang) {
      console.error(`cpsync: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`cpsync: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(3);
    },
  );
}
