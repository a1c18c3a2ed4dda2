// The Python example target (examples/python/cpsync_node.py) through the process-target protocol: a
// small swarm campaign holds every property; its deliberately broken variant (--bug ack-before-log,
// which acknowledges sync writes before the destination logged them) is caught; a trace names its
// messages in its own words (it answers `describe`), and without describe names none of them.

import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { runCampaign } from '../harness/campaign.ts';
import { smallWorld } from '../harness/presets.ts';
import { type ProcessConformanceTarget, processTarget } from '../harness/process_target.ts';
import { World } from '../harness/world.ts';

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

  it("a trace shows the Python target's own message names; without describe, only lengths and sums", () => {
    const traceOf = (command: string): string[] => {
      const w = new World({
        spec: smallWorld({ mode: 'sync' }),
        target: proc(command, 'pass'),
        seed: 3,
        trace: true,
      });
      for (let lba = 0; lba < 3; lba++) w.step({ kind: 'write', source: 'src0', lba });
      w.step({ kind: 'tick', ticks: 12 }); // the CP timer fires: a cp-sync and its confirm
      return w.trace.filter((l) => / deliver /.test(l));
    };
    const described = traceOf(NODE);
    // Its header's kinds (entry, log-ack, cp-sync, confirm), as cpsync_node.py's describe() words them.
    for (const words of [
      /deliver src0->dst entry session=1 seq=1 lba=0 crc=[0-9a-f]{8}$/,
      /deliver dst->src0 log-ack session=1 seq=1$/,
      /deliver src0->dst cp-sync session=1 cp=1 base=0 \d+ blocks$/,
      /deliver dst->src0 confirm session=1 cp=1$/,
    ])
      expect(
        described.some((l) => words.test(l)),
        `${words} in:\n${described.join('\n')}`,
      ).toBe(true);
    const plain = traceOf(`${NODE} --no-describe`);
    expect(plain.length).toBe(described.length);
    // Nobody decodes its bytes, with the reference's wire format or any other.
    for (const l of plain) expect(l).toMatch(/ deliver \S+( \(dup\))? \d+ bytes sum=[0-9a-f]{8}$/);
  }, 60_000);

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
