// `--check-determinism`: every schedule runs twice and the two transcripts must be equal, for the
// harness replays a counterexample by running its schedule again (FoundationDB checks every test so).
// The transcript is what the run showed (actions, trace, verdict) and, for a process target, every line
// exchanged with its nodes: a node that reads the clock, draws unseeded randomness or keeps state
// across worlds gives itself away here before it gives a counterexample that does not replay.

import type { ProcessConformanceTarget } from './process_target.ts';
import { type LockstepChecker, type RunOptions, type RunResult, runSchedule } from './runner.ts';
import type { Schedule } from './schedule.ts';
import type { ConformanceTarget } from './target.ts';

/** The property a run that is not deterministic violates. */
export const DETERMINISM_PROPERTY = 'deterministic';

function transcriptOf(target: ConformanceTarget, r: RunResult): string[] {
  const lines = [
    ...r.executed.map((a) => JSON.stringify(a)),
    ...r.trace,
    `verdict ${r.violation ? `${r.violation.property} at ${r.violation.step}: ${r.violation.message}` : 'pass'}`,
  ];
  const protocol = (target as Partial<ProcessConformanceTarget>).lastTranscript?.();
  return protocol ? [...lines, ...protocol] : lines;
}

/** The first line where two transcripts differ, or null when they are equal. */
export function firstDifference(a: readonly string[], b: readonly string[]): string | null {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++)
    if (a[i] !== b[i])
      return `line ${i + 1} was ${clip(a[i] ?? '(the end)')} the first time and ${clip(b[i] ?? '(the end)')} the second`;
  return null;
}

function clip(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}...` : s);
}

/**
 * Runs `schedule` twice, the trace on; a difference between the runs is a `deterministic` violation.
 * Checkers keep state (the model in lockstep), so each run gets its own from `checkers`.
 */
export function runScheduleTwice(
  target: ConformanceTarget,
  schedule: Schedule,
  options: Omit<RunOptions, 'checkers'> & { readonly checkers?: () => readonly LockstepChecker[] } = {},
): RunResult {
  const run = () =>
    runSchedule(target, schedule, { ...options, checkers: options.checkers?.() ?? [], trace: true });
  const first = run();
  const t1 = transcriptOf(target, first);
  const second = run();
  const diff = firstDifference(t1, transcriptOf(target, second));
  if (diff === null) return first;
  return {
    ...first,
    ok: false,
    violation: {
      property: DETERMINISM_PROPERTY,
      message: `the same schedule run twice gave different transcripts: ${diff}`,
      step: first.steps,
      phase: first.violation?.phase ?? 'liveness',
    },
  };
}
