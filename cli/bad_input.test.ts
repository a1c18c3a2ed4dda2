// Bad input, as a new user makes it: damaged counterexample files, out-of-range options, an unwritable
// --out folder, results that do not merge. Each is one line naming what is wrong, exit 2, no stack,
// nothing run and nothing blamed on the target; a target that breaks the interface is a
// `target-contract` verdict.

import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { scheduleArb } from '../harness/schedule.ts';
import { main } from './cli.ts';
import { parseCounterexample } from './counterexample_schema.ts';

let out: MockInstance;
let err: MockInstance;
let stderr: MockInstance;
const printed = () => out.mock.calls.map((c) => c.join(' ')).join('\n');
const errors = () => [...err.mock.calls, ...stderr.mock.calls].map((c) => String(c[0])).join('');
/** Our lines on stderr (Node may add its own warnings on a loaded machine). */
const ours = () =>
  errors()
    .split('\n')
    .filter((l) => l.startsWith('cpsync:'));

beforeEach(() => {
  out = vi.spyOn(console, 'log').mockImplementation(() => {});
  err = vi.spyOn(console, 'error').mockImplementation(() => {});
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

const dir = mkdtempSync(join(tmpdir(), 'cpsync-bad-input-'));
const committed = join(import.meta.dirname, '..', 'reports', 'counterexamples');
const base = JSON.parse(
  readFileSync(join(committed, 'canary-early-ack-log-file-holds-what-the-mirror-lacks-seed7.json'), 'utf8'),
) as Record<string, unknown> & { schedule: Record<string, unknown> };

/** A copy of the base counterexample with these actions, changed by `edit`. */
function damaged(name: string, edit: (cx: typeof base) => void, actions?: unknown[]): string {
  const cx = structuredClone(base);
  if (actions) cx.schedule.actions = actions;
  edit(cx);
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(cx));
  return file;
}

const write = (lba: unknown, source: unknown = 'src0') => ({ kind: 'write', source, lba });
const preset = (cx: typeof base, p: Record<string, unknown>) => {
  (cx.schedule.config as { preset: Record<string, unknown> }).preset = {
    ...(cx.schedule.config as { preset: Record<string, unknown> }).preset,
    ...p,
  };
};
const none = () => {};

describe('cpsync replay refuses a damaged counterexample, naming the field', () => {
  const cases: [string, string, RegExp][] = [
    [
      'an unknown action kind',
      damaged('kind', none, [write(0), { kind: 'explode', source: 'src0' }]),
      /schedule\.actions\[1\]\.kind: Invalid discriminator value.*got "explode"/,
    ],
    [
      'an unknown source',
      damaged('source', none, [write(0, 'src7')]),
      /schedule\.actions\[0\]\.source: 'src7' is not a source of this world \('src0'\)/,
    ],
    [
      'a tick count that is not a number',
      damaged('ticks-nan', none, [write(0), { kind: 'tick', ticks: 'ten' }]),
      /schedule\.actions\[1\]\.ticks: .*expected number, received string/,
    ],
    [
      'a tick count of 10^12',
      damaged('ticks-huge', none, [{ kind: 'tick', ticks: 1e12 }]),
      /schedule\.actions\[0\]\.ticks: Too big: expected number to be <=1000, got 1000000000000/,
    ],
    [
      'more ticks in all than a counterexample may ask for',
      damaged(
        'ticks-total',
        none,
        Array.from({ length: 200 }, () => ({ kind: 'tick', ticks: 1000 })),
      ),
      /schedule\.actions: 200400 ticks in all/,
    ],
    [
      'an impossible RAID geometry',
      damaged('geometry', (cx) => preset(cx, { lbaCount: 1 })),
      /schedule\.config\.preset: this preset gives an impossible RAID geometry: .*blocksPerDisk/,
    ],
    [
      'a block size RAID cannot use',
      damaged('block-bytes', (cx) => preset(cx, { blockBytes: 1004 })),
      /schedule\.config\.preset\.blockBytes: expected a multiple of 8/,
    ],
    [
      'an lbaCount of 10^7',
      damaged('lba-count', (cx) => preset(cx, { lbaCount: 1e7 })),
      /schedule\.config\.preset\.lbaCount: Too big: expected number to be <=1024/,
    ],
    [
      'two sources too many',
      damaged('sources', (cx) => preset(cx, { sources: 4 })),
      /preset\.sources: Too big/,
    ],
    [
      'an unknown mode',
      damaged('mode', (cx) => preset(cx, { mode: 'async' })),
      /preset\.mode: Invalid option/,
    ],
    ['a negative LBA', damaged('lba-negative', none, [write(-1)]), /actions\[0\]\.lba: Too small.*got -1/],
    ['a huge LBA', damaged('lba-huge', none, [write(1e9)]), /actions\[0\]\.lba: Too big.*got 1000000000/],
    [
      'an LBA past the volume',
      damaged('lba-past', none, [write(20)]),
      /actions\[0\]\.lba: LBA 20 is outside the volume \(0 to 15, lbaCount 16\)/,
    ],
    [
      'an unknown node',
      damaged('node', none, [{ kind: 'crash', node: 'dst2' }]),
      /actions\[0\]\.node: 'dst2' is not a node of this world/,
    ],
    [
      'an unknown RAID group',
      damaged('group', none, [{ kind: 'fail-disk', node: 'dst', group: 'primary', index: 0 }]),
      /actions\[0\]\.group: dst has no RAID group 'primary' \('mirror:src0', 'log:src0'\)/,
    ],
    [
      'a disk the group does not have',
      damaged('disk', none, [{ kind: 'fail-disk', node: 'src0', group: 'primary', index: 9 }]),
      /actions\[0\]\.index: src0 primary has disks 0 to 4, not 9/,
    ],
    [
      'a block past the disk',
      damaged('dbn', none, [{ kind: 'latent-error', node: 'src0', group: 'primary', index: 0, dbn: 5000 }]),
      /actions\[0\]\.dbn: the disks of src0 primary have blocks 0 to \d+, not 5000/,
    ],
    [
      'a misspelt field',
      damaged('typo', none, [{ kind: 'write', source: 'src0', lab: 3 }]),
      /actions\[0\]\.lba: missing \(expected number\) \(also schedule\.actions\[0\]: Unrecognized key: "lab"\)/,
    ],
    [
      'a message fault between unknown nodes',
      damaged('message-fault', none, [
        { kind: 'message-fault', from: 'src0', to: 'dst9', fault: { kind: 'lose' } },
      ]),
      /actions\[0\]\.to: 'dst9' is not a node/,
    ],
    [
      'a loss rate over 100%',
      damaged('loss', (cx) => {
        (cx.schedule.config as Record<string, unknown>).linkFaults = {
          deliveryDelayTicksMin: 1,
          deliveryDelayTicksMax: 2,
          lossPercent: 150,
          duplicatePercent: 0,
          reorderPercent: 0,
        };
      }),
      /schedule\.config\.linkFaults\.lossPercent: Too big/,
    ],
    [
      'a liveness phase of 10^9 ticks',
      damaged('liveness', (cx) => {
        cx.schedule.livenessTicks = 1e9;
      }),
      /schedule\.livenessTicks: Too big/,
    ],
    [
      'a world seed that is not an integer',
      damaged('world-seed', (cx) => {
        cx.schedule.seed = 1.5;
      }),
      /schedule\.seed: .*expected int/,
    ],
    [
      'no schedule',
      damaged('no-schedule', (cx) => {
        delete (cx as Record<string, unknown>).schedule;
      }),
      /damaged counterexample: schedule: missing \(expected object\)/,
    ],
  ];
  it.each(cases)('%s', async (_why, file, message) => {
    expect(await main(['replay', file])).toBe(2);
    expect(ours(), errors()).toHaveLength(1);
    expect(ours()[0]).toMatch(message);
    expect(errors()).not.toMatch(/\n\s+at /);
    // Nothing ran: no trace, no verdict.
    expect(printed()).toBe('');
  });

  it('accepts the undamaged file, and every committed counterexample', () => {
    for (const f of readdirSync(committed).filter((n) => n.endsWith('.json')))
      expect(() =>
        parseCounterexample(JSON.parse(readFileSync(join(committed, f), 'utf8')), f),
      ).not.toThrow();
  });

  it('accepts every schedule a campaign draws (the schema knows every action kind)', () => {
    for (const swarm of [false, true])
      for (const schedule of fc.sample(scheduleArb({ maxSteps: 60, swarm }), { seed: 7, numRuns: 300 })) {
        const cx = { ...base, schedule: { ...schedule, livenessTicks: 400 } };
        expect(() => parseCounterexample(cx, 'drawn')).not.toThrow();
      }
  });
});

describe('cpsync check refuses options it cannot honour exactly', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'a seed that would print rounded',
      ['--seed', '99999999999999999999'],
      /--seed must be an integer from 0 to 2147483647/,
    ],
    ['a seed past 31 bits', ['--seed', '2147483648'], /--seed must be an integer from 0 to 2147483647/],
    ['a fractional seed', ['--seed', '1.5'], /--seed must be an integer/],
    ['a seed in exponent form', ['--runs', '1e3'], /--runs must be an integer/],
    ['no workers', ['--workers', '0'], /--workers must be an integer from 1 to 256/],
    ['a shard past its count', ['--shard', '3/2'], /--shard must be k\/K with 1 <= k <= K/],
    ['a shard that is not k/K', ['--shard', 'two'], /--shard must be k\/K/],
    ['a zero time budget', ['--time', '0'], /--time must be an integer from 1/],
    ['both a run count and a time budget', ['--runs', '10', '--time', '5'], /cannot be used with/],
    [
      'a shard with no runs',
      ['--runs', '8', '--shard', '2/2'],
      /--shard 2\/2 has no runs: --runs 8 makes 1 slice of 8 runs/,
    ],
  ];
  it.each(cases)('%s', async (_why, argv, message) => {
    expect(await main(['check', ...argv])).toBe(2);
    expect(errors()).toMatch(message);
    expect(errors()).not.toMatch(/\n\s+at /);
  });
});

describe('cpsync check --out a folder it cannot write', () => {
  it('is refused before anything runs when the folder is under a file', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder');
    const code = await main([
      'check',
      '--target',
      'canary-early-ack',
      '--runs',
      '5',
      '--out',
      join(file, 'cx'),
    ]);
    expect(code).toBe(2);
    expect(ours()).toHaveLength(1);
    expect(ours()[0]).toMatch(/--out .*a-file is not a directory/);
    expect(printed()).toBe('');
  });

  it.runIf(process.platform === 'linux')(
    'does not hang where mkdir loops (/proc): the counterexample goes to a temporary folder, one line, exit 2',
    async () => {
      const argv = ['check', '--target', 'canary-early-ack', '--seed', '7', '--runs', '20', '--swarm'];
      const code = await main([...argv, '--workers', '1', '--out', '/proc/cpsync-no-such-dir', '--json']);
      expect(code).toBe(2);
      expect(ours()).toHaveLength(1);
      expect(ours()[0]).toMatch(
        /cannot write the counterexample to \/proc\/cpsync-no-such-dir .*saved it as (.*) instead/,
      );
      const s = JSON.parse(printed()) as { result: string; counterexample: string };
      expect(s.result).toBe('fail');
      // Nothing lost: the file is where the line says, and it replays.
      expect(JSON.parse(readFileSync(s.counterexample, 'utf8')).target).toBe('canary-early-ack');
    },
  );
});

describe('a target that breaks the interface gets a target-contract verdict', () => {
  const fixture = (name: string) => `./cli/test_fixtures/${name}`;
  const cases: [string, string, RegExp][] = [
    ['throws in observe', 'throws_in_observe.ts', /threw in observe: the console is gone/],
    [
      'throws in its first observe, right after boot',
      'throws_in_boot_observe.ts',
      /threw in observe: no console/,
    ],
    [
      'returns a malformed observation',
      'malformed_observation.ts',
      /returned a malformed observation from observe\(\): sources\.src0\.relationship is 'sideways'/,
    ],
    [
      'returns a malformed effect',
      'malformed_effect.ts',
      /returned a malformed effect from drainEffects\(\): a send effect's to is 'nowhere'/,
    ],
  ];
  it.each(cases)('%s', async (_why, name, message) => {
    const outDir = mkdtempSync(join(tmpdir(), 'cpsync-contract-'));
    const argv = ['check', '--target', fixture(name), '--runs', '3', '--seed', '1', '--workers', '1'];
    expect(await main([...argv, '--out', outDir, '--json'])).toBe(1);
    const s = JSON.parse(printed()) as { property: string; message: string; counterexample: string };
    expect(s.property).toBe('target-contract');
    expect(s.message).toMatch(message);
    out.mockClear();
    // The saved counterexample replays to the same verdict.
    expect(await main(['replay', s.counterexample, '--json'])).toBe(1);
    expect(JSON.parse(printed())).toMatchObject({ reproduces: true, property: 'target-contract' });
  });
});

describe('cpsync merge refuses results that are not one whole campaign', () => {
  const result = (name: string, r: Record<string, unknown>): string => {
    const file = join(dir, `${name}.result.json`);
    writeFileSync(file, JSON.stringify(r));
    return file;
  };
  const shard = (k: number, K: number, extra: Record<string, unknown> = {}) => ({
    format: 'cpsync-check-result/1',
    target: 'reference',
    expected: 'pass',
    seed: 5,
    maxSteps: 60,
    swarm: false,
    model: true,
    runsOption: 16,
    timeSeconds: null,
    shard: `${k}/${K}`,
    workers: 1,
    runs: 8,
    steps: 100,
    observedSteps: 200,
    ticks: 150,
    runsBound: 16,
    result: 'pass',
    failureRun: null,
    property: null,
    message: null,
    counterexample: null,
    shrunkSteps: null,
    shrinkAttempts: null,
    shrinkSeconds: null,
    seconds: 1,
    sometimes: {},
    faultCoverage: {},
    reproduce: 'cpsync check',
    ...extra,
  });
  const cases: [string, string[], RegExp][] = [
    [
      'a file that is not a result',
      [join(committed, 'reference-two-cps-in-one-step.json')],
      /not the output of cpsync check --json/,
    ],
    ['a shard missing', [result('m1', shard(1, 3)), result('m2', shard(2, 3))], /shard 3\/3 missing/],
    ['the same shard twice', [result('d1', shard(1, 2)), result('d2', shard(1, 2))], /shard 1\/2 is .* too/],
    [
      'shards of another campaign',
      [result('o1', shard(1, 2)), result('o2', shard(2, 2, { seed: 6 }))],
      /another campaign \(seed 6, not 5\)/,
    ],
    [
      // A result without the field (written before it was recorded) ran with the default, 60 s.
      'shards run with another hang timeout',
      [result('h1', shard(1, 2)), result('h2', shard(2, 2, { hangTimeout: 5 }))],
      /another campaign \(hangTimeout 5, not 60\)/,
    ],
    [
      'shards run with and without --check-determinism',
      [
        result('c1', shard(1, 2, { checkDeterminism: false })),
        result('c2', shard(2, 2, { checkDeterminism: true })),
      ],
      /another campaign \(checkDeterminism true, not false\)/,
    ],
    [
      'a whole campaign, not a shard',
      [result('w', shard(1, 1, { shard: null }))],
      /shard: .*expected string/,
    ],
    ['a result with a field of the wrong type', [result('t', shard(1, 1, { runs: 'many' }))], /runs: /],
  ];
  it.each(cases)('%s', async (_why, files, message) => {
    expect(await main(['merge', ...files])).toBe(2);
    expect(ours()).toHaveLength(1);
    expect(ours()[0]).toMatch(message);
  });
});
