// The generated model paths (xstate/graph shortest paths to every state, and the transition cover)
// run against the reference implementation through the conformance interface, the world and the
// campaigns' lockstep model checker (harness/model_paths.ts): no step of any path may break the
// refinement mapping or an `always` property, and at least the measured number of paths must be
// realised in the reference's own timing. A canary run through the same driver must fail, so this
// test can.

import { beforeAll, describe, expect, it } from 'vitest';
import {
  describeViolation,
  type PathRunResult,
  pathSummaryTable,
  runModelPath,
  summarisePathRuns,
} from '../harness/model_paths.ts';
import { builtInTarget } from '../harness/targets.ts';
import type { Mode } from './events.ts';
import { MODES, type ModelPath, modeGraph } from './paths.ts';

/**
 * Paths realised on the reference, per mode, as measured (state paths and transition cover together:
 * 374, 374 and 373 paths; a latent error repaired by a scrub, DISK_REPAIRED, is one realised in each;
 * the lost volume's states, VOLUME_LOST on, redrew the shortest paths and one fewer is realised per
 * mode than before them). The run is deterministic, so the floor is the measured count itself: a
 * lower count means the model's paths or the reference's timing changed, and which paths stopped
 * being realised (the table's stops) says whether that is a regression before the floor is moved.
 *
 * Why so few of them: the model's shortest paths let a target stop between any two of its own steps,
 * and the reference does several in one. It writes a CP's root in the tick the CP starts (the model's
 * CP before its root is never shown), runs a CP as soon as it restarts (`recovering` is never shown),
 * acknowledges a semi-sync write inside the write call, promotes atomically at failover, and never
 * goes out of sync on a perfect link without a partition or a crash. The model allows all of that on
 * purpose (model/statechart.ts); a path through such a state cannot be realised, and is counted.
 */
const REALISED_FLOOR: Readonly<Record<Mode, number>> = { sync: 30, 'strict-sync': 30, 'semi-sync': 26 };

let paths: ModelPath[] = [];

beforeAll(() => {
  paths = MODES.flatMap((mode) => {
    const g = modeGraph(mode);
    return [...g.statePaths, ...g.transitionPaths];
  });
});

describe('the model paths on the reference implementation', () => {
  it('keep the refinement mapping at every step of every path, and realise at least the floor', () => {
    const reference = builtInTarget('reference')!;
    const results: PathRunResult[] = paths.map((p) => runModelPath(reference, p));
    const rows = summarisePathRuns(results);
    console.log(`model paths on the reference\n${pathSummaryTable(rows)}`);
    const violations = results.filter((r) => r.violation).map(describeViolation);
    expect(violations.slice(0, 3).join('\n\n'), `${violations.length} paths break the refinement`).toBe('');
    for (const mode of MODES) {
      const row = rows.find((r) => r.mode === mode)!;
      expect(row.paths, mode).toBe(paths.filter((p) => p.mode === mode).length);
      expect(row.realised, `${mode}: paths realised`).toBeGreaterThanOrEqual(REALISED_FLOOR[mode]);
    }
    // Both kinds of path are realised somewhere, so neither half of the generator is idle here.
    expect(results.some((r) => r.realised && r.path.purpose === 'state')).toBe(true);
    expect(results.some((r) => r.realised && r.path.purpose === 'transition')).toBe(true);
  });

  it('are run deterministically', () => {
    const reference = builtInTarget('reference')!;
    const sample = paths.filter((_, i) => i % 25 === 0);
    const outcome = (r: PathRunResult) => [r.realised, r.stepsRealised, r.worldSteps, r.unrealised?.detail];
    const first = sample.map((p) => outcome(runModelPath(reference, p)));
    const again = sample.map((p) => outcome(runModelPath(reference, p)));
    expect(again).toEqual(first);
  });

  it('catch a canary through the same driver: the test can fail', () => {
    // Acknowledging a sync write before the destination logged it: the destination's log file lacks
    // it (rule F1), or the harness saw no round trip before the ack (A1). The first failing path is enough.
    const canary = builtInTarget('canary-early-ack')!;
    let failing: PathRunResult | undefined;
    for (const p of paths) {
      const r = runModelPath(canary, p);
      if (r.violation) {
        failing = r;
        break;
      }
    }
    expect(['log-file-holds-what-the-mirror-lacks', 'sync-ack-after-round-trip']).toContain(
      failing?.violation?.property,
    );
    expect(describeViolation(failing!)).toMatch(/write \d+/);
  });
});
