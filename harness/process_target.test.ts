// The process-target protocol end to end: the reference and a canary served as processes
// (`cpsync serve-target`) give the verdicts and shrunk counterexamples of their in-process runs; every
// way a node can misbehave ends the run with one line naming the node; both sides' messages validate.

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCampaign } from './campaign.ts';
import { runScheduleTwice } from './determinism.ts';
import { modelCheckers } from './model_checker.ts';
import { smallWorld } from './presets.ts';
import {
  harnessMessageSchema,
  nodeMessageSchema,
  processProtocolJsonSchemas,
  replySchema,
  requestSchema,
} from './process_protocol.ts';
import { type ProcessConformanceTarget, processTarget } from './process_target.ts';
import { runSchedule } from './runner.ts';
import type { Schedule } from './schedule.ts';
import { ALL_NAMED_TARGETS, builtInTarget } from './targets.ts';
import { World } from './world.ts';

const SERVE = 'node bin/cpsync.js serve-target';
// serve-target checks its own replies against the schema too (the children inherit the environment).
process.env.CPSYNC_SERVE_CHECK = '1';
const started: ProcessConformanceTarget[] = [];

function proc(command: string, hangTimeoutMs = 30_000, transcript = false): ProcessConformanceTarget {
  const t = processTarget({ command, hangTimeoutMs, transcript });
  started.push(t);
  return t;
}

afterAll(() => {
  for (const t of started) t.dispose();
});

/** A counterexample as the comparison sees it: everything but the target's name. */
function comparable(cx: NonNullable<ReturnType<typeof runCampaign>['counterexample']>) {
  const { target: _name, cpsyncVersion: _v, ...rest } = cx;
  return rest;
}

describe('targets served as processes match their in-process runs', () => {
  for (const name of ['reference', 'canary-early-ack']) {
    it(`${name}: the same verdict, counts and shrunk counterexample`, () => {
      const options = { runs: 6, seed: 7, maxSteps: 24, swarm: true, version: 'test' };
      const inProcess = runCampaign(builtInTarget(name)!, options);
      const asProcess = runCampaign(proc(`${SERVE} ${name}`), options);
      expect(asProcess.runs).toBe(inProcess.runs);
      expect(asProcess.steps).toBe(inProcess.steps);
      expect(asProcess.observedSteps).toBe(inProcess.observedSteps);
      expect(asProcess.counterexample === undefined).toBe(inProcess.counterexample === undefined);
      if (inProcess.counterexample && asProcess.counterexample)
        expect(comparable(asProcess.counterexample)).toEqual(comparable(inProcess.counterexample));
      if (name === 'canary-early-ack') expect(asProcess.counterexample).toBeDefined();
    }, 240_000);
  }
});

// Deeper, by a flag (a few minutes): every named target's campaign, shrinking included, through
// serve-target and in process, as `cpsync check --seed 7 --runs 400 --swarm` runs it.
describe.runIf(process.env.CPSYNC_DEEP_PROCESS === '1')(
  'every named target served as a process (CPSYNC_DEEP_PROCESS=1)',
  () => {
    // canary-timers-on-peer-clock times its sources by the destination's clock, which it reads across
    // nodes in one process; served one node per process it cannot, and fails otherwise (earlier).
    for (const target of ALL_NAMED_TARGETS.filter((t) => t.name !== 'canary-timers-on-peer-clock')) {
      it(`${target.name}: the same verdict, counts and shrunk counterexample`, () => {
        const options = {
          runs: 400,
          seed: 7,
          maxSteps: 60,
          swarm: true,
          version: 'test',
          checkers: modelCheckers,
        };
        const inProcess = runCampaign(target, options);
        const asProcess = runCampaign(proc(`${SERVE} ${target.name}`), options);
        expect([asProcess.runs, asProcess.observedSteps]).toEqual([inProcess.runs, inProcess.observedSteps]);
        expect(asProcess.counterexample === undefined).toBe(inProcess.counterexample === undefined);
        // The target's name stands in messages and traces: the process target's is its command.
        const named = (cx: NonNullable<typeof inProcess.counterexample>) =>
          JSON.parse(JSON.stringify(comparable(cx)).replaceAll(`cmd:${SERVE} ${target.name}`, target.name));
        if (inProcess.counterexample && asProcess.counterexample)
          expect(named(asProcess.counterexample)).toEqual(named(inProcess.counterexample));
      }, 900_000);
    }
  },
);

const FIXTURE = 'python3 harness/test_fixtures/bad_node.py';
const TINY: Schedule = {
  config: { preset: { sources: 1, mode: 'sync' } },
  seed: 1,
  actions: [{ kind: 'tick', ticks: 2 }],
};

describe('a node that misbehaves ends the run with one line naming it', () => {
  const cases: [mode: string, expected: RegExp][] = [
    ['exit', /node src0 exited with code 3 \(during init\)/],
    ['not-json', /node src0 printed a line that is not JSON: hello, harness \(during init\)/],
    ['malformed', /node src0 sent a malformed message .*effects/],
    ['wrong-id', /node src0 answered request 101; the request waiting is 1/],
    ['hang', /node src0 stopped answering: no reply within 1.5 s \(during init\)/],
    ['exit-on-tick', /node src0 exited with code 4 \(during tick\)/],
  ];
  for (const [mode, expected] of cases)
    it(mode, () => {
      // Generous for a Python start-up on a loaded machine; the hanging node waits for it whole.
      const hangMs = mode === 'hang' ? 1500 : 20_000;
      const r = runSchedule(proc(`${FIXTURE} ${mode}`, hangMs), TINY, { trace: true, livenessTicks: 0 });
      expect(r.ok).toBe(false);
      expect(r.violation?.property).toBe('target-contract');
      expect(r.violation?.message).toMatch(expected);
      expect(r.violation?.message).not.toContain('\n');
      if (mode === 'exit') expect(r.trace.join('\n')).toContain('stderr| bad_node: giving up');
      if (mode === 'exit-on-tick') expect(r.trace.join('\n')).toContain('stderr| bad_node: a tick? I quit');
    }, 30_000);

  it('a command that cannot start is said so', () => {
    expect(
      () => new World({ spec: smallWorld(), target: proc('/nonexistent/node-program'), seed: 1 }),
    ).toThrow(/node src0 could not be started: spawn \/nonexistent\/node-program ENOENT/);
  });
});

describe('the protocol', () => {
  it('every message each side sends validates against the schema the other side checks', () => {
    const t = proc(`${SERVE} reference`, 30_000, true);
    const w = new World({ spec: smallWorld(), target: t, seed: 3, trace: true });
    for (let i = 0; i < 6; i++) w.step({ kind: 'write', source: 'src0', lba: i });
    w.step({ kind: 'tick', ticks: 12 });
    w.step({ kind: 'crash', node: 'src0' });
    w.step({ kind: 'restart', node: 'src0' });
    w.step({ kind: 'tick', ticks: 4 });
    w.instance.logFile('src0');
    // Protocol 2's batched reads, equal to their one-at-a-time forms.
    const image = w.instance.readCommittedImage!('src0', 'mirror');
    expect(image.map((b) => Buffer.from(b).toString('hex'))).toEqual(
      Array.from({ length: image.length }, (_, lba) =>
        Buffer.from(w.instance.readMirrorCommitted('src0', lba)).toString('hex'),
      ),
    );
    const live = w.instance.liveVbns('src0', 'primary');
    expect(w.instance.readVbns!('src0', 'primary', live)).toEqual(
      live.map((v) => w.instance.readVbn('src0', 'primary', v)),
    );
    const lines = t.lastTranscript()!;
    const types = new Set<string>();
    for (const l of lines) {
      const toNode = l.slice(0, 8).includes('< ');
      const json = JSON.parse(l.slice(l.indexOf(' ') + 1));
      const schema = toNode ? harnessMessageSchema : nodeMessageSchema;
      expect(schema.safeParse(json).success, l.slice(0, 200)).toBe(true);
      types.add(`${toNode ? '>' : '<'}${json.type}`);
    }
    for (const ty of [
      'init',
      'client-write',
      'receive',
      'tick',
      'log-file',
      'read-image',
      'read-vbns',
      'describe',
      'media-result',
    ])
      expect(types).toContain(`>${ty}`);
    for (const ty of ['media', 'reply']) expect(types).toContain(`<${ty}`);
    // The trace names the reference's messages in its own terms, described by the node.
    expect(w.trace.some((l) => / deliver src0->dst log-entry src0 seq=1 /.test(l))).toBe(true);
  }, 60_000);

  it('malformed messages are refused, naming the field', () => {
    expect(requestSchema.safeParse({ type: 'tick', id: 1, ticks: 0 }).success).toBe(false);
    expect(
      replySchema.safeParse({ type: 'reply', id: 1, effects: [{ kind: 'send', to: 'dst' }] }).success,
    ).toBe(false);
    expect(
      nodeMessageSchema.safeParse({ type: 'media', ops: [{ op: 'read', disk: 'd', dbn: -1 }] }).success,
    ).toBe(false);
  });

  it('docs/process-targets.md prints the JSON Schemas the code validates with', () => {
    const doc = readFileSync('docs/process-targets.md', 'utf8');
    // Each schema is a `### \`name\`` heading and a json block, compared as data (biome formats it).
    const printed: Record<string, unknown> = {};
    for (const m of doc.matchAll(/^### `([^`]+)`\n\n```json\n([\s\S]*?)\n```/gm))
      printed[m[1]!] = JSON.parse(m[2]!);
    expect(printed).toEqual(processProtocolJsonSchemas());
  });
});

describe('--check-determinism', () => {
  it('a deterministic target passes; one that reads the clock is caught', () => {
    const schedule: Schedule = {
      config: { preset: { sources: 1, mode: 'sync' } },
      seed: 4,
      actions: [
        { kind: 'write', source: 'src0', lba: 1 },
        { kind: 'tick', ticks: 3 },
      ],
    };
    expect(runScheduleTwice(builtInTarget('reference')!, schedule, { livenessTicks: 20 }).ok).toBe(true);
    // With the model in lockstep too: each run gets models of its own (they keep state).
    const twice = runScheduleTwice(builtInTarget('reference')!, schedule, {
      livenessTicks: 20,
      checkers: modelCheckers,
    });
    expect(twice.violation?.message).toBeUndefined();
    const reference = builtInTarget('reference')!;
    const clocked = {
      ...reference,
      boot: (spec: Parameters<typeof reference.boot>[0], media: Parameters<typeof reference.boot>[1]) => {
        const i = reference.boot(spec, media);
        const describe = i.describeMessage!.bind(i);
        // A description that reads the clock: the two traces differ.
        i.describeMessage = (bytes, from) => {
          const d = describe(bytes, from);
          return d && { ...d, text: `${d.text} at ${process.hrtime.bigint()}` };
        };
        return i;
      },
    };
    const r = runScheduleTwice(clocked, schedule, { livenessTicks: 20 });
    expect(r.violation?.property).toBe('deterministic');
    expect(r.violation?.message).toMatch(/different transcripts: line \d+ was/);
  });
});
