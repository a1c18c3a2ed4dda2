// The Python example target (examples/python/cpsync_node.py) through the process-target protocol: a
// small swarm campaign holds every property; its deliberately broken variant (--bug ack-before-log,
// which acknowledges sync writes before the destination logged them) is caught.

import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { runCampaign } from '../harness/campaign.ts';
import { type ProcessConformanceTarget, processTarget } from '../harness/process_target.ts';

const NODE = 'python3 examples/python/cpsync_node.py';
const hasPython = spawnSync('python3', ['--version']).status === 0;
if (!hasPython) console.log('examples/python_target.test.ts: skipped, python3 is not installed');

const ACK_PROPERTIES = [
  'model-refinement',
  'sync-ack-after-round-trip',
  'strict-sync-never-acks-unmirrored',
  'log-file-holds-what-the-mirror-lacks',
  'no-acked-write-lost-after-failover',
];

const started: ProcessConformanceTarget[] = [];
function proc(command: string, expected: 'pass' | 'fail'): ProcessConformanceTarget {
  const t = processTarget({ command, expected, hangTimeoutMs: 30_000 });
  started.push(t);
  return t;
}

afterAll(() => {
  for (const t of started) t.dispose();
});

describe.skipIf(!hasPython)('the Python example target', () => {
  it('holds every property over a small swarm campaign', () => {
    const r = runCampaign(proc(NODE, 'pass'), {
      runs: 16,
      seed: 5,
      maxSteps: 60,
      swarm: true,
      version: 'test',
    });
    expect(r.counterexample?.message).toBeUndefined();
    expect(r.runs).toBe(16);
  }, 120_000);

  it('its ack-before-log variant is caught', () => {
    const r = runCampaign(proc(`${NODE} --bug ack-before-log`, 'fail'), {
      runs: 30,
      seed: 5,
      maxSteps: 40,
      swarm: true,
      modes: ['sync', 'strict-sync'],
      version: 'test',
      shrink: false,
    });
    expect(r.counterexample).toBeDefined();
    // An acknowledgement the destination's log does not back: whichever check sees it first.
    expect(ACK_PROPERTIES).toContain(r.counterexample!.property);
  }, 120_000);
});
