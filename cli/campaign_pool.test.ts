// Campaigns across threads and machines: a seed gives the same verdict and the same counterexample with
// one worker or two, shards merged give the campaign run whole, a time budget says which runs it
// reached, and what is printed counts runs and shrink attempts apart and repeats every option.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { runCampaign } from '../harness/campaign.ts';
import { sliceRange } from '../harness/campaign_share.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { builtInTarget } from '../harness/targets.ts';
import { type CheckSummary, printSummary } from './campaign_summary.ts';
import { main, readCounterexample } from './cli.ts';

let out: MockInstance;
const printed = () => out.mock.calls.map((c) => c.join(' ')).join('\n');

beforeEach(() => {
  out = vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

/** `cpsync check ARGS --json` in its own folder: the summary and the exit code. */
async function check(args: string[]): Promise<{ code: number; s: CheckSummary }> {
  out.mockClear();
  const dir = mkdtempSync(join(tmpdir(), 'cpsync-pool-'));
  const code = await main(['check', ...args, '--json', '--out', dir]);
  return { code, s: JSON.parse(printed()) as CheckSummary };
}

/**
 * Seed 3 was picked when its first failure was run 7, late in the first slice of 8, and run 9, the
 * first of the second slice, failed too: two workers find the second slice's failure first, and must
 * not report it. Schedules change as the harness draws new kinds of action, so the tests assert only
 * what holds for any seed: one worker and two, and the shards merged, agree.
 */
const CANARY = [
  '--target',
  'canary-early-ack',
  '--seed',
  '3',
  '--runs',
  '40',
  '--swarm',
  '--max-steps',
  '30',
];

/** The canary campaign with `workers` threads, run once per count and shared by the tests below. */
const canaryRuns = new Map<number, Promise<{ code: number; s: CheckSummary }>>();
function canary(workers: number) {
  let r = canaryRuns.get(workers);
  if (!r) {
    r = check([...CANARY, '--workers', String(workers)]);
    canaryRuns.set(workers, r);
  }
  return r;
}

describe('cpsync check --workers', () => {
  it('finds the same first failure and the same counterexample with 1 worker and 2', async () => {
    const one = await canary(1);
    const two = await canary(2);
    expect(one.code).toBe(1);
    expect(two.code).toBe(1);
    for (const key of ['failureRun', 'runs', 'steps', 'observedSteps', 'property', 'shrunkSteps'] as const)
      expect(two.s[key], key).toEqual(one.s[key]);
    expect(two.s.workers).toBe(2);
    expect(readFileSync(two.s.counterexample!, 'utf8')).toBe(readFileSync(one.s.counterexample!, 'utf8'));
  });

  it('is the campaign the library runs: runCampaign with the same seed shrinks the same counterexample', async () => {
    const { s } = await canary(2);
    const r = runCampaign(builtInTarget('canary-early-ack')!, {
      runs: 40,
      seed: 3,
      maxSteps: 30,
      swarm: true,
      version: 'test',
      checkers: modelCheckers,
    });
    const file = JSON.parse(readFileSync(s.counterexample!, 'utf8')) as { path: string; schedule: unknown };
    expect(r.runsToFailure).toBe(s.failureRun);
    expect(file.path).toBe(r.counterexample!.path);
    expect(file.schedule).toEqual(r.counterexample!.schedule);
  });
});

describe('a target that hangs, on two workers', () => {
  it('is reported where one thread would meet it: in the first schedule of the first slice', async () => {
    const errs = vi.spyOn(console, 'error').mockImplementation(() => {});
    const hanging = './cli/test_fixtures/hanging_target.ts';
    const argv = ['check', '--target', hanging, '--runs', '16', '--seed', '3', '--workers', '2'];
    expect(await main([...argv, '--hang-timeout', '1'])).toBe(1);
    const lines = errs.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('cpsync:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/made no progress for 1 s in schedule 1 \(campaign seed 3\)/);
  });
});

describe('a failing campaign says what it did', () => {
  it('stopped at the first failure, sometimes not judged, runs and shrink attempts apart, every option repeated', async () => {
    // The lines `check` prints for the summary its --json gave (the same summary, printed).
    const { s } = await canary(1);
    out.mockClear();
    printSummary(s, readCounterexample(s.counterexample!));
    const text = printed();
    expect(text).toMatch(/^stopped at the first failure, in schedule \d+: \d+ schedules, /m);
    expect(text).toMatch(
      /^sometimes: not judged, the campaign stopped at its first failure \(\d+ of \d+ reached by then\)$/m,
    );
    expect(text).not.toMatch(/^sometimes: \d+ of \d+ reached/m);
    expect(text).toMatch(/^shrunk to \d+ actions in \d+ shrink attempts \(/m);
    expect(text).toMatch(
      /^reproduce: cpsync check --target canary-early-ack --seed 3 --runs 40 --max-steps 30 --swarm$/m,
    );
  });
});

describe('cpsync check --shard and cpsync merge', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpsync-shards-'));
  const save = (name: string, s: CheckSummary) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(s));
    return file;
  };

  it('merges shards into the campaign run whole: the same runs, steps and sometimes counts', async () => {
    const args = ['--seed', '5', '--runs', '20', '--max-steps', '12', '--workers', '1', '--no-model'];
    const whole = await check(args);
    const parts = [await check([...args, '--shard', '1/2']), await check([...args, '--shard', '2/2'])];
    // Slices of 8 runs, dealt out in turn: shard 1 has runs 1-8 and 17-20, shard 2 runs 9-16.
    expect(parts.map((p) => p.s.runs)).toEqual([12, 8]);
    expect(parts[0]!.s.reproduce).toBe(
      'cpsync check --target reference --seed 5 --runs 20 --max-steps 12 --no-model --shard 1/2',
    );
    out.mockClear();
    const code = await main(['merge', save('s1', parts[0]!.s), save('s2', parts[1]!.s), '--json']);
    const merged = JSON.parse(printed()) as CheckSummary;
    expect(code).toBe(whole.code);
    for (const key of [
      'runs',
      'steps',
      'observedSteps',
      'ticks',
      'sometimes',
      'result',
      'unreached',
    ] as const)
      expect(merged[key], key).toEqual(whole.s[key]);
    expect(merged).toMatchObject({ mergedShards: 2, shard: null, reproduce: whole.s.reproduce });
  });

  it("merges failing shards to the whole campaign's first failure and counterexample", async () => {
    const whole = await canary(1);
    const files = [];
    // Either shard may hold the first failure; the merge picks it by run number.
    for (const k of [1, 2])
      files.push(save(`f${k}`, (await check([...CANARY, '--workers', '1', '--shard', `${k}/2`])).s));
    out.mockClear();
    expect(await main(['merge', ...files, '--json'])).toBe(1);
    const merged = JSON.parse(printed()) as CheckSummary;
    expect(merged.failureRun).toBe(whole.s.failureRun);
    expect(merged.property).toBe(whole.s.property);
    expect(readFileSync(merged.counterexample!, 'utf8')).toBe(readFileSync(whole.s.counterexample!, 'utf8'));
  });
});

describe('the reproduce line', () => {
  it('repeats --check-determinism and a hang timeout other than the default, and merge keeps them', async () => {
    const args = ['--seed', '4', '--runs', '9', '--max-steps', '6', '--no-model', '--workers', '1'];
    const extra = ['--check-determinism', '--hang-timeout', '7'];
    const { s } = await check([...args, ...extra]);
    expect(s).toMatchObject({ checkDeterminism: true, hangTimeout: 7 });
    expect(s.reproduce).toBe(
      'cpsync check --target reference --seed 4 --runs 9 --max-steps 6 --no-model --check-determinism --hang-timeout 7',
    );
    const dir = mkdtempSync(join(tmpdir(), 'cpsync-reproduce-'));
    const files = [];
    for (const k of [1, 2]) {
      const file = join(dir, `${k}.json`);
      writeFileSync(file, JSON.stringify((await check([...args, ...extra, '--shard', `${k}/2`])).s));
      files.push(file);
    }
    out.mockClear();
    expect(await main(['merge', ...files, '--json'])).toBe(s.result === 'pass' ? 0 : 4);
    expect((JSON.parse(printed()) as CheckSummary).reproduce).toBe(s.reproduce);
    // The defaults are left out: the line is as short as the campaign allows.
    expect((await check(args)).s.reproduce).toBe(
      'cpsync check --target reference --seed 4 --runs 9 --max-steps 6 --no-model',
    );
  });
});

describe('cpsync check --time', () => {
  it('runs whole slices until the budget, and its reproduce line names the runs it reached', async () => {
    const { s } = await check([
      '--seed',
      '3',
      '--time',
      '1',
      '--max-steps',
      '8',
      '--no-model',
      '--workers',
      '1',
    ]);
    expect(s.runsOption).toBeNull();
    expect(s.timeSeconds).toBe(1);
    expect(s.runs).toBeGreaterThan(0);
    expect(s.runs % sliceRange(1, Number.POSITIVE_INFINITY).from).toBe(0);
    expect(s.runsBound).toBe(s.runs);
    expect(s.reproduce).toBe(
      `cpsync check --target reference --seed 3 --runs ${s.runs} --max-steps 8 --no-model`,
    );
  });
});
