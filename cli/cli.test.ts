// The command line, run in-process: exit codes (0 held, 1 found or reproduces, 2 user error), one-line
// errors for bad input, the --json summaries, a counterexample saved and replayed, a hung target.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { BUILT_IN_TARGETS, DEVIATING_TARGETS } from '../harness/targets.ts';
import { main } from './cli.ts';

let out: MockInstance;
let err: MockInstance;
let stderr: MockInstance;
const printed = () => out.mock.calls.map((c) => c.join(' ')).join('\n');
const errors = () => [...err.mock.calls, ...stderr.mock.calls].map((c) => String(c[0])).join('');

beforeEach(() => {
  out = vi.spyOn(console, 'log').mockImplementation(() => {});
  err = vi.spyOn(console, 'error').mockImplementation(() => {});
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

const fixture = (name: string) => `./cli/test_fixtures/${name}`;

describe('cpsync targets', () => {
  it('lists the built-in targets as JSON: those expected to pass, the canaries and the deviating ones', async () => {
    expect(await main(['targets', '--json'])).toBe(0);
    const list = JSON.parse(printed()) as { name: string; description: string; expected: string }[];
    expect(list.find((t) => t.name === 'reference')?.expected).toBe('pass');
    const failing = [...BUILT_IN_TARGETS, ...DEVIATING_TARGETS].filter((t) => t.expected === 'fail');
    expect(list.filter((t) => t.expected === 'fail').map((t) => t.name)).toEqual(failing.map((t) => t.name));
    for (const t of list) expect(t.description.length).toBeGreaterThan(10);
  });
});

describe('cpsync check and replay', () => {
  it('passes the reference, with the fields a script needs', async () => {
    expect(await main(['check', '--runs', '200', '--seed', '2026', '--json'])).toBe(0);
    const s = JSON.parse(printed()) as Record<string, unknown>;
    expect(s).toMatchObject({ target: 'reference', seed: 2026, runs: 200, result: 'pass', property: null });
    expect(s.unreached).toEqual([]);
    expect(s.counterexample).toBeNull();
    expect(s.steps).toBeGreaterThan(0);
    expect(s.schedulesPerSecond).toBeGreaterThan(0);
  });

  it('catches a canary, saves the counterexample, and replay reproduces it (exit 1 both)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpsync-cli-'));
    const args = ['check', '--target', 'canary-early-ack', '--runs', '100', '--seed', '7', '--swarm'];
    expect(await main([...args, '--json', '--out', dir])).toBe(1);
    const s = JSON.parse(printed()) as { result: string; property: string; counterexample: string };
    expect(s.result).toBe('fail');
    const cx = JSON.parse(readFileSync(s.counterexample, 'utf8')) as { target: string; readable: string[] };
    expect(cx.target).toBe('canary-early-ack');
    expect(cx.readable.join('\n')).toContain('<-- violated here');
    out.mockClear();
    expect(await main(['replay', s.counterexample, '--json'])).toBe(1);
    const r = JSON.parse(printed()) as { reproduces: boolean; property: string };
    expect(r).toMatchObject({ reproduces: true, property: s.property });
  });

  it('loads a user module as a target, and names it by its path in what it prints', async () => {
    // Three schedules reach few `sometimes` goals: every property holds, the result is incomplete.
    expect(await main(['check', '--target', './examples/my_target.ts', '--runs', '3', '--seed', '1'])).toBe(
      4,
    );
    expect(printed()).toContain('INCOMPLETE: every property held, but not every sometimes goal was reached');
    expect(printed()).toContain('reproduce: cpsync check --target ./examples/my_target.ts --seed 1 --runs 3');
  });

  it('ends a campaign against a target that hangs, with one line (exit 1)', async () => {
    const code = await main([
      'check',
      '--target',
      fixture('hanging_target.ts'),
      '--runs',
      '2',
      '--seed',
      '3',
      '--hang-timeout',
      '1',
    ]);
    expect(code).toBe(1);
    // Our one line; Node itself may warn on stderr too (a loaded machine), which is not ours to judge.
    const ours = errors()
      .split('\n')
      .filter((line) => line.startsWith('cpsync:'));
    expect(ours, errors()).toHaveLength(1);
    expect(ours[0], ours[0]).toMatch(
      /^cpsync: target '.*hanging_target.ts' made no progress for 1 s in schedule \d+/,
    );
    expect(errors()).not.toMatch(/\n\s+at /);
  });
});

describe('bad input: one line, exit 2, no stack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpsync-bad-'));
  const notJson = join(dir, 'not.json');
  writeFileSync(notJson, '{ this is not json');
  const notCx = join(dir, 'other.json');
  writeFileSync(notCx, '{"hello": 1}');
  const damaged = join(dir, 'damaged.json');
  writeFileSync(damaged, '{"format": "cpsync-counterexample/1", "target": "reference"}');
  const cases: [string, string[], RegExp][] = [
    ['an unknown target', ['check', '--target', 'nope'], /unknown target 'nope'/],
    ['a module without a target', ['check', '--target', fixture('not_a_target.ts')], /does not export/],
    ['a module that throws', ['check', '--target', fixture('throws_on_load.ts')], /cannot load target/],
    ['a bad number', ['check', '--runs', 'many'], /--runs must be an integer/],
    ['a missing file', ['replay', join(dir, 'missing.json')], /cannot read/],
    ['a file that is not JSON', ['replay', notJson], /is not JSON/],
    ['JSON that is not a counterexample', ['replay', notCx], /is not a cpsync counterexample/],
    ['a damaged counterexample', ['replay', damaged], /damaged counterexample/],
  ];
  it.each(cases)('%s', async (_why, argv, message) => {
    expect(await main(argv)).toBe(2);
    expect(errors()).toMatch(message);
    expect(errors()).not.toMatch(/\n\s+at /);
  });
});

describe('cpsync crash-points', () => {
  it('holds for the reference and catches a root written first, saving a counterexample that replays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpsync-crash-'));
    expect(await main(['crash-points', '--kind', 'cp-sync-apply', '--json'])).toBe(0);
    const held = JSON.parse(printed()) as { points: number; failed: number; node: string };
    expect(held.node).toBe('dst');
    expect(held.points).toBeGreaterThan(3);
    expect(held.failed).toBe(0);
    out.mockClear();
    const args = ['crash-points', '--kind', 'cp-sync-apply', '--target', 'canary-root-first', '--out', dir];
    expect(await main([...args, '--json'])).toBe(1);
    const caught = JSON.parse(printed()) as { failed: number; counterexample: string };
    expect(caught.failed).toBeGreaterThan(0);
    out.mockClear();
    expect(await main(['replay', caught.counterexample, '--json'])).toBe(1);
    expect((JSON.parse(printed()) as { property: string }).property).toBe('model-refinement');
  });

  it('names the kinds when given another, and exits 2', async () => {
    expect(await main(['crash-points', '--kind', 'rebuild-everything'])).toBe(2);
    expect(errors()).toContain('--kind must be one of source-cp, cp-sync-apply');
  });
});

describe('cpsync shrink', () => {
  const saved = 'reports/counterexamples/canary-reuse-freed-in-cp-model-refinement-seed7.json';

  it('drops what a padded counterexample does not need, keeps its failure, and writes it to --out', async () => {
    const cx = JSON.parse(readFileSync(saved, 'utf8')) as {
      schedule: { actions: unknown[] };
      property: string;
    };
    const padding = [
      { kind: 'read', source: 'src0', lba: 9 },
      { kind: 'tick', ticks: 2 },
      { kind: 'read', source: 'src0', lba: 3 },
    ];
    const padded = { ...cx, schedule: { ...cx.schedule, actions: [...padding, ...cx.schedule.actions] } };
    const dir = mkdtempSync(join(tmpdir(), 'cpsync-shrink-'));
    const file = join(dir, 'padded.json');
    writeFileSync(file, JSON.stringify(padded));
    const outFile = join(dir, 'shrunk.json');
    expect(await main(['shrink', file, '--out', outFile, '--json'])).toBe(0);
    const r = JSON.parse(printed()) as {
      before: number;
      after: number;
      property: string;
      exhaustive: boolean;
    };
    expect(r).toMatchObject({
      before: cx.schedule.actions.length + 3,
      property: cx.property,
      exhaustive: true,
    });
    expect(r.after).toBeLessThanOrEqual(cx.schedule.actions.length);
    // The input is left as it was; the shrunk file replays to the same failure.
    expect((JSON.parse(readFileSync(file, 'utf8')) as typeof cx).schedule.actions).toHaveLength(r.before);
    out.mockClear();
    expect(await main(['replay', outFile, '--json'])).toBe(1);
    expect(JSON.parse(printed())).toMatchObject({ reproduces: true, property: cx.property });
  });

  it('writes nothing and exits 1 when the file no longer fails what it records', async () => {
    const cx = JSON.parse(readFileSync(saved, 'utf8')) as { schedule: Record<string, unknown> };
    const dir = mkdtempSync(join(tmpdir(), 'cpsync-shrink-'));
    const file = join(dir, 'passing.json');
    const text = JSON.stringify({
      ...cx,
      schedule: { ...cx.schedule, actions: [{ kind: 'tick', ticks: 1 }] },
    });
    writeFileSync(file, text);
    expect(await main(['shrink', file])).toBe(1);
    expect(printed()).toContain('no longer fails model-refinement; nothing written');
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});
