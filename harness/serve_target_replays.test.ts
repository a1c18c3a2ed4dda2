// Committed counterexamples (reports/counterexamples: one per canary, and the correct targets'
// regressions) replayed through `cpsync serve-target` and in process: the same violation, the same
// actions run, the same trace line for line, power cuts included at the very media write. A file of
// its own so that it runs beside process_target.test.ts.
//
// `npm test` replays the correct targets' regressions (one node process per target) and the canaries
// named in EVERY_RUN; CPSYNC_DEEP_PROCESS=1 replays every canary too. Each canary is a node process of
// its own, about 1.5 s to start and replay, and its deviation lives inside the served node: the
// protocol paths it crosses are the ones the regressions cross, so the rest only add time.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Counterexample, replayCounterexample } from './campaign.ts';
import { modelCheckers } from './model_checker.ts';
import { type ProcessConformanceTarget, processTarget } from './process_target.ts';
import { builtInTarget } from './targets.ts';

const SERVE = 'node bin/cpsync.js serve-target';
/**
 * Canaries replayed on every run, each for a path of the protocol no regression crosses: corrupted
 * bytes refused (target-contract), a rebuild cut, a scrub, and a wrapped log file.
 */
const EVERY_RUN = [
  'canary-no-frame-checksum',
  'canary-labels-spare-first',
  'canary-scrub-repairs-nothing',
  'canary-log-trusts-stale-lap',
];
// serve-target checks its own replies against the schema too (the children inherit the environment).
process.env.CPSYNC_SERVE_CHECK = '1';
const started: ProcessConformanceTarget[] = [];

function proc(command: string): ProcessConformanceTarget {
  const t = processTarget({ command, hangTimeoutMs: 30_000 });
  started.push(t);
  return t;
}

afterAll(() => {
  for (const t of started) t.dispose();
});

describe('every committed counterexample replays through serve-target as in process', () => {
  // One per canary and each reference regression (reports/counterexamples): the same violation, the
  // same actions run and the same trace, line for line; power cuts included, at the very media write.
  const dir = join(import.meta.dirname, '..', 'reports', 'counterexamples');
  // Left out for time alone: 768 writes queued through one process take 20 s (the campaigns of
  // process_target.test.ts and python_target.test.ts run long schedules through processes).
  const slow = new Set(['reference-liveness-after-768-queued-writes.json']);
  const deep = process.env.CPSYNC_DEEP_PROCESS === '1';
  const files = readdirSync(dir).filter(
    (f) =>
      f.endsWith('.json') &&
      !slow.has(f) &&
      (deep || !f.startsWith('canary-') || EVERY_RUN.some((c) => f.startsWith(`${c}-`))),
  );
  const served = new Map<string, ProcessConformanceTarget>();
  for (const file of files) {
    const cx = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Counterexample;
    it(file, () => {
      const inProcess = replayCounterexample(
        builtInTarget(cx.target)!,
        cx,
        cx.lockstep ? modelCheckers() : [],
      );
      if (!served.has(cx.target)) served.set(cx.target, proc(`${SERVE} ${cx.target}`));
      const asProcess = replayCounterexample(served.get(cx.target)!, cx, cx.lockstep ? modelCheckers() : []);
      expect(asProcess.violation?.property, file).toBe(inProcess.violation?.property);
      const named = withoutName(cx.target);
      expect(named(asProcess.violation?.message ?? ''), file).toBe(named(inProcess.violation?.message ?? ''));
      expect(asProcess.executed, file).toEqual(inProcess.executed);
      expect(asProcess.trace.map(withoutName(cx.target)), file).toEqual(
        inProcess.trace.map(withoutName(cx.target)),
      );
    }, 60_000);
  }
});

/** A trace line with the target's name left out (the process target's name is its command). */
function withoutName(name: string) {
  return (line: string) => line.replaceAll(`cmd:${SERVE} ${name}`, name).replaceAll(`${SERVE} ${name}`, name);
}
