// The `cpsync` command line: `check` runs a conformance campaign against a target, `replay` runs a saved
// counterexample again, `targets` lists the built-in targets. Exit codes: 0 every property held (or a
// replay no longer fails), 1 a counterexample was found (or reproduces), 2 a usage or input error.
// This is the one place that reads the clock (for throughput figures) and writes files.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import {
  COUNTEREXAMPLE_FORMAT,
  type Counterexample,
  readableSteps,
  replayCounterexample,
} from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { ALL_NAMED_TARGETS, loadTarget, TargetLoadError } from '../harness/targets.ts';
import { CP_PROPERTIES } from '../model/cp_obligations.ts';
import { SOMETIMES } from '../properties/properties.ts';
import { runCampaignInWorker, TargetHang } from './campaign_worker.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** A user error: printed as one line, exit 2. */
class UsageError extends Error {}

function integer(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

interface CheckOptions {
  target: string;
  runs: number;
  seed?: number;
  maxSteps: number;
  swarm: boolean;
  json: boolean;
  model: boolean;
  out: string;
  hangTimeout: number;
}

async function check(o: CheckOptions): Promise<number> {
  const target = await loadTarget(o.target);
  // A seed drawn from the clock when none is given; printed, so the run can be repeated exactly.
  const seed = o.seed ?? Date.now() % 0x7fffffff;
  const bar =
    !o.json && process.stderr.isTTY
      ? new SingleBar({
          format: 'checking {bar} {value}/{total} schedules | {steps} steps',
          hideCursor: true,
        })
      : null;
  bar?.start(o.runs, 0, { steps: 0 });
  const started = performance.now();
  // In a worker, watched: a target that hangs ends the campaign with one line instead of hanging it.
  const job = { target: o.target, runs: o.runs, seed, maxSteps: o.maxSteps, swarm: o.swarm, model: o.model };
  const result = await runCampaignInWorker({ ...job, version: VERSION }, o.hangTimeout * 1000, (run, steps) =>
    bar?.update(Math.min(run, o.runs), { steps }),
  ).finally(() => bar?.stop());
  const seconds = (performance.now() - started) / 1000;
  // A module target is named by its path in the file, so that `cpsync replay` can load it again.
  const cx = result.counterexample && { ...result.counterexample, target: o.target };
  const file = cx ? saveCounterexample(cx, o.out, target.name) : undefined;
  // A campaign that held every property but never reached some `sometimes` goal proves less than it
  // seems: its result is 'incomplete' and it exits 4. The model's goals count only with the model on.
  const goals = SOMETIMES.map((p) => p.name).filter((n) => o.model || !MODEL_GOALS.has(n));
  const unreached = goals.filter((n) => !result.sometimes.get(n));
  const summary = {
    target: o.target,
    expected: target.expected,
    seed,
    runs: result.runs,
    steps: result.steps,
    observedSteps: result.observedSteps,
    ticks: result.ticks,
    result: cx ? 'fail' : unreached.length > 0 ? 'incomplete' : 'pass',
    unreached,
    property: cx?.property ?? null,
    message: cx?.message ?? null,
    counterexample: file ?? null,
    shrunkSteps: cx?.schedule.actions.length ?? null,
    runsToFailure: cx ? result.runsToFailure : null,
    seconds: Number(seconds.toFixed(3)),
    schedulesPerSecond: Number((result.runs / seconds).toFixed(1)),
    stepsPerSecond: Math.round(result.observedSteps / seconds),
    sometimes: Object.fromEntries(result.sometimes),
  };
  if (o.json) console.log(JSON.stringify(summary));
  else printCheck(summary, cx, file);
  return cx ? 1 : unreached.length > 0 ? 4 : 0;
}

/** `sometimes` goals that only the model in lockstep records (its CP milestones). */
const MODEL_GOALS: ReadonlySet<string> = new Set(
  CP_PROPERTIES.flatMap((p) => p.partners as readonly string[]),
);

function printCheck(
  s: Record<string, unknown>,
  cx: Counterexample | undefined,
  file: string | undefined,
): void {
  console.log(`target ${s.target} (expected to ${s.expected}), seed ${s.seed}`);
  console.log(
    `${s.runs} schedules, ${s.steps} actions, ${s.observedSteps} lockstep steps in ${s.seconds} s: ${s.schedulesPerSecond} schedules/s, ${s.stepsPerSecond} steps/s`,
  );
  // A property that held only because its precondition never arose says little: name those.
  const reached = s.sometimes as Record<string, number>;
  const missed = s.unreached as string[];
  const goals = Object.keys(reached).length + missed.length;
  console.log(
    `sometimes: ${goals - missed.length} of ${goals} reached` +
      (missed.length > 0 ? ` (never: ${missed.join(', ')}; more runs or --swarm reach them)` : ''),
  );
  if (!cx || !file) {
    console.log(
      missed.length > 0
        ? 'INCOMPLETE: every property held, but not every sometimes goal was reached (exit 4)'
        : 'every property held',
    );
    console.log(`reproduce: cpsync check --target ${s.target} --seed ${s.seed} --runs ${s.runs}`);
    return;
  }
  console.log(`VIOLATED ${cx.property}: ${cx.message}`);
  console.log(`shrunk to ${cx.schedule.actions.length} actions (found after ${s.runsToFailure} schedules):`);
  for (const line of cx.readable.slice(0, cx.schedule.actions.length + 1)) console.log(`  ${line}`);
  console.log(`counterexample: ${file}`);
  console.log(`replay: cpsync replay ${file}    (fast-check seed ${cx.seed}, path ${cx.path})`);
}

function saveCounterexample(cx: Counterexample, dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const safe = name.replace(/[^\w.-]+/g, '_');
  const file = join(dir, `${safe}-${cx.property}-seed${cx.seed}.json`);
  writeFileSync(file, `${JSON.stringify(cx, null, 2)}\n`);
  return file;
}

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
  const c = cx as Partial<Counterexample> | null;
  if (!c || typeof c !== 'object' || c.format !== COUNTEREXAMPLE_FORMAT)
    throw new UsageError(`${file} is not a cpsync counterexample (no "format": "${COUNTEREXAMPLE_FORMAT}")`);
  const s = c.schedule;
  if (
    !s ||
    !Array.isArray(s.actions) ||
    typeof s.seed !== 'number' ||
    typeof s.config !== 'object' ||
    typeof c.target !== 'string'
  )
    throw new UsageError(
      `${file} is a damaged counterexample: it lacks target, schedule.config, schedule.seed or schedule.actions`,
    );
  return c as Counterexample;
}

async function replay(file: string, o: { json: boolean; model: boolean }): Promise<number> {
  const cx = readCounterexample(file);
  const target = await loadTarget(cx.target);
  // The model runs in lockstep when it did in the run that found the counterexample (and --no-model is absent).
  const result = replayCounterexample(target, cx, o.model && cx.lockstep !== false ? modelCheckers() : []);
  const v = result.violation;
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
  return v ? 1 : 0;
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
    .option('--runs <n>', 'schedules to run', integer('--runs', 1), 200)
    .option('--seed <n>', 'the campaign seed (default: drawn and printed)', integer('--seed', 0))
    .option('--max-steps <n>', 'actions per schedule at most', integer('--max-steps', 1), 60)
    .option('--swarm', 'draw a mix of action kinds per schedule (swarm testing)', false)
    .option('--no-model', 'do not step the statechart model in lockstep')
    .option('--out <dir>', 'where counterexamples are written', 'reports/counterexamples')
    .option(
      '--hang-timeout <s>',
      'seconds without a finished schedule before the target counts as hung',
      integer('--hang-timeout', 1),
      60,
    )
    .option('--json', 'print one JSON object', false)
    .action(async (o: CheckOptions) => {
      code = await check(o);
    });
  program
    .command('replay <file>')
    .description('run a saved counterexample again and print its trace')
    .option('--no-model', 'do not step the statechart model in lockstep')
    .option('--json', 'print one JSON object', false)
    .action(async (file: string, o: { json: boolean; model: boolean }) => {
      code = await replay(file, o);
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
    if (e instanceof UsageError || e instanceof TargetLoadError) {
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
