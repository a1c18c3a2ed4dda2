// A bounded exhaustive search for a shorter failing schedule: every subsequence of a failing schedule's
// actions (adjacent ticks merged), shortest first. It measures the shrinker: the shrinker keeps a local
// minimum (no single action can go), and this search says how far that is from the shortest failing
// subsequence, which dropping two or more actions at once can reach. `npm run bench` reports each
// canary's shrunk length beside the shortest the search found over several seeds.
//
// Deterministic: subsequences are tried in a fixed order (by length, then lexicographically by the
// positions kept). Bounded: at most `maxRuns` runs; a search that ran out says so (`exhaustive` false),
// and what it returns is then only the shortest it reached.

import type { Schedule } from './schedule.ts';
import { mergeTicks } from './shrink.ts';
import type { WorldAction } from './world.ts';

export interface SearchOptions {
  /** Runs the candidate; true when it fails the same property as the input. */
  readonly fails: (schedule: Schedule) => boolean;
  /** Candidate runs at most (default 4,096: every subsequence of 12 actions). */
  readonly maxRuns?: number;
}

export interface SearchResult {
  /** The shortest failing schedule found (the input, ticks merged, when nothing shorter fails). */
  readonly schedule: Schedule;
  readonly runs: number;
  /** True when every subsequence that keeps fewer of the input's actions than the result was tried. */
  readonly exhaustive: boolean;
}

const DEFAULT_MAX_RUNS = 4_096;

export function shortestSubsequence(input: Schedule, options: SearchOptions): SearchResult {
  const budget = options.maxRuns ?? DEFAULT_MAX_RUNS;
  const actions = mergeTicks(input.actions);
  let runs = 0;
  for (let keep = 1; keep < actions.length; keep++) {
    let best: WorldAction[] | null = null;
    for (const positions of combinations(actions.length, keep)) {
      if (runs >= budget) return { schedule: shortest(input, best, actions), runs, exhaustive: false };
      const candidate = mergeTicks(positions.map((i) => actions[i]!));
      runs++;
      if (
        options.fails({ ...input, actions: candidate }) &&
        (best === null || candidate.length < best.length)
      )
        best = candidate;
    }
    // Every subsequence of `keep` actions is tried before one of `keep + 1`; the search stops at the
    // first level that fails. (A longer subsequence whose ticks merge into fewer actions than this
    // level's best is not looked for: it would need more merges than the level's best has.)
    if (best !== null) return { schedule: { ...input, actions: best }, runs, exhaustive: true };
  }
  return { schedule: { ...input, actions }, runs, exhaustive: true };
}

function shortest(input: Schedule, best: WorldAction[] | null, all: WorldAction[]): Schedule {
  return { ...input, actions: best ?? all };
}

/** The k-element subsets of 0..n-1 as ascending position lists, in lexicographic order. */
export function* combinations(n: number, k: number): Generator<number[]> {
  if (k < 0 || k > n) return;
  const positions = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield positions.slice();
    let i = k - 1;
    while (i >= 0 && positions[i] === n - k + i) i--;
    if (i < 0) return;
    positions[i]!++;
    for (let j = i + 1; j < k; j++) positions[j] = positions[j - 1]! + 1;
  }
}
