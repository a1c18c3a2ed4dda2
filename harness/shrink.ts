// A second shrinking pass, after fast-check's: fast-check shrinks the schedule it drew (fewer actions,
// smaller numbers), but it cannot see that two adjacent `tick`s are one, that an action changed nothing,
// that a `tick 9` needs only 3, or that five writes to LBAs 0..4 are one burst. This pass works on the executed schedule, with the property that
// failed as its oracle: a candidate is kept only if it fails the same property (a shorter schedule
// that fails something else is another bug, not this one's counterexample).
//
// Deterministic: candidates are tried in a fixed order, each run is a pure function of the schedule.
// Bounded: at most `maxRuns` runs, so a slow target cannot make shrinking endless.

import type { Schedule, ScheduleConfig } from './schedule.ts';
import type { NodeId } from './target.ts';
import type { WorldAction } from './world.ts';

export interface PolishOptions {
  /** Runs the candidate; true when it fails the same property. */
  readonly fails: (schedule: Schedule) => boolean;
  /** Candidate runs at most (default 2,000). */
  readonly maxRuns?: number;
}

export interface PolishResult {
  readonly schedule: Schedule;
  /** Candidate runs made. */
  readonly runs: number;
}

const DEFAULT_MAX_RUNS = 2_000;

/**
 * Shortens a failing schedule to a local minimum: in the simplest world it still fails in (a perfect
 * link, small NVLOG halves), no two adjacent ticks, no action that can be dropped, no run of evenly
 * spaced writes that one burst can stand for, no tick or burst count that can be lowered, each while
 * the same property fails. Repeats the passes
 * until none changes anything (or the run budget is spent).
 */
export function polish(input: Schedule, options: PolishOptions): PolishResult {
  let schedule = input;
  const budget = options.maxRuns ?? DEFAULT_MAX_RUNS;
  let runs = 0;
  const fails = (actions: readonly WorldAction[]): boolean => {
    if (runs >= budget) return false;
    runs++;
    return options.fails({ ...schedule, actions });
  };
  // Merging gives the same run (the runner steps a `tick a+b` one tick at a time, as `tick a, tick b`);
  // checked once anyway, so that a runner that ever tells them apart cannot produce a counterexample
  // that no longer fails. Without it, candidates keep their ticks apart.
  const merged = mergeTicks(schedule.actions);
  const merge =
    merged.length === schedule.actions.length || fails(merged)
      ? mergeTicks
      : (a: readonly WorldAction[]) => a.slice();
  let actions = merge(schedule.actions);
  // A simpler world first, where the same actions still fail: a perfect link (its draws no longer
  // tie every tick count to the network's stream), small NVLOG halves (CPs with fewer writes).
  let config = schedule.config;
  for (const candidate of simplerConfigs(config)) {
    if (runs >= budget) break;
    runs++;
    if (options.fails({ ...schedule, config: candidate, actions })) config = candidate;
  }
  schedule = { ...schedule, config };
  for (let changed = true; changed && runs < budget; ) {
    changed = false;
    // Drop actions, last first: later actions depend on earlier ones more often than the reverse.
    for (let i = actions.length - 1; i >= 0 && runs < budget; i--) {
      const candidate = merge([...actions.slice(0, i), ...actions.slice(i + 1)]);
      if (fails(candidate)) {
        actions = candidate;
        changed = true;
        i = Math.min(i, actions.length);
      }
    }
    // Two actions at once, when neither goes alone (a crash and the restart it needs, say), and an
    // action moved one place when that lets another go (`crash dst, write, tick` as `write, crash dst`).
    if (!changed && actions.length <= PAIR_LIMIT) {
      const shorter = firstShorter(actions, merge, fails);
      if (shorter !== null) {
        actions = shorter;
        changed = true;
      }
    }
    // Each action in its plainest form that still fails: a crash now rather than mid-write, a write of
    // fresh data, a burst without a hot set, a rebuild left uncut, LBA 0. Fewer details to read, and a
    // plainer action often lets the drops above go further on the next pass.
    for (let i = 0; i < actions.length && runs < budget; i++)
      for (const plain of plainerForms(actions[i]!)) {
        const candidate = actions.slice();
        candidate[i] = plain;
        if (fails(candidate)) {
          actions = candidate;
          changed = true;
          break;
        }
      }
    // A run of writes of one source to evenly spaced LBAs as one burst: the world issues a burst's
    // writes one after another in one step, so only the checks between them are lost.
    for (let i = 0; i < actions.length && runs < budget; i++) {
      const n = writeRunAt(actions, i);
      if (n < 2) continue;
      const candidate = merge([...actions.slice(0, i), asBurst(actions, i, n), ...actions.slice(i + n)]);
      if (fails(candidate)) {
        actions = candidate;
        changed = true;
      }
    }
    // Lower each tick count and each burst's count, by bisection on the smallest that still fails.
    for (let i = 0; i < actions.length && runs < budget; i++) {
      const a = actions[i]!;
      const size = a.kind === 'tick' ? a.ticks : a.kind === 'burst' ? a.count : 0;
      if (size <= 1) continue;
      let lo = 1;
      let hi = size;
      while (lo < hi && runs < budget) {
        const mid = Math.floor((lo + hi) / 2);
        const candidate = withSize(actions, i, mid);
        if (fails(candidate)) hi = mid;
        else lo = mid + 1;
      }
      if (hi < size) {
        actions = withSize(actions, i, hi);
        changed = true;
      }
    }
  }
  return { schedule: { ...schedule, actions }, runs };
}

/** Schedules up to this long are tried with firstShorter's moves (O(n^2) runs each). */
const PAIR_LIMIT = 16;
/** Up to this long, an action is tried at every place, not only next to its own (O(n^3) runs). */
const MOVE_LIMIT = 8;

/**
 * The first candidate, in a fixed order, shorter than `actions` that still fails: two actions dropped
 * at once; an action moved and another dropped, or moved beside its like; a fault as a plain crash
 * of its node, with another action dropped. Null when none does (`fails` is
 * false once the run budget is spent).
 */
function firstShorter(
  actions: readonly WorldAction[],
  merge: (a: readonly WorldAction[]) => WorldAction[],
  fails: (a: readonly WorldAction[]) => boolean,
): WorldAction[] | null {
  const n = actions.length;
  for (let i = n - 1; i >= 1; i--)
    for (let j = i - 1; j >= 0; j--) {
      const candidate = merge(actions.filter((_, k) => k !== i && k !== j));
      if (fails(candidate)) return candidate;
    }
  // An action moved (one place, or anywhere in a short schedule) and another dropped; or moved beside
  // its like, where ticks merge and writes join as a burst.
  for (let i = 0; i < n; i++)
    for (let to = 0; to < n; to++) {
      if (to === i || (n > MOVE_LIMIT && Math.abs(to - i) > 1)) continue;
      const moved = actions.filter((_, k) => k !== i);
      moved.splice(to, 0, actions[i]!);
      const joined = joinWriteRuns(merge(moved));
      if (joined.length < n && fails(joined)) return joined;
      for (let j = n - 1; j >= 0; j--) {
        // Dropping the moved action is a single drop the drop pass already tried.
        if (j === to) continue;
        const candidate = merge(moved.filter((_, k) => k !== j));
        if (fails(candidate)) return candidate;
      }
    }
  // A fault of a node as that node's plain power cut, with another action dropped: a failed disk and
  // its cut rebuild, or a pause and what it delayed, are often only a way to take the node down.
  for (let i = 0; i < n; i++) {
    const node = faultedNode(actions[i]!);
    if (node === null) continue;
    for (let j = n - 1; j >= 0; j--) {
      if (j === i) continue;
      const candidate = actions.slice();
      candidate[i] = { kind: 'crash', node };
      const dropped = merge(candidate.filter((_, k) => k !== j));
      if (fails(dropped)) return dropped;
    }
  }
  return null;
}

/** The node a fault other than a plain crash acts on, or null. */
function faultedNode(a: WorldAction): NodeId | null {
  switch (a.kind) {
    case 'fail-disk':
    case 'latent-error':
    case 'replace-disk':
    case 'pause':
    case 'drift':
    case 'scrub':
      return a.node;
    case 'crash':
      return a.afterWrites !== undefined ? a.node : null;
    default:
      return null;
  }
}

/** Every run of two or more evenly spaced writes of one source as one burst. */
function joinWriteRuns(actions: readonly WorldAction[]): WorldAction[] {
  const out: WorldAction[] = [];
  for (let i = 0; i < actions.length; ) {
    const n = writeRunAt(actions, i);
    if (n >= 2) {
      out.push(asBurst(actions, i, n));
      i += n;
    } else out.push(actions[i++]!);
  }
  return out;
}

/** Plainer forms of an action, the plainest first; none for an action already plain. */
export function plainerForms(a: WorldAction): WorldAction[] {
  switch (a.kind) {
    case 'crash':
      return a.afterWrites !== undefined || a.torn !== undefined ? [{ kind: 'crash', node: a.node }] : [];
    case 'write': {
      const out: WorldAction[] = [];
      if (a.data !== undefined) out.push({ kind: 'write', source: a.source, lba: a.lba });
      if (a.lba !== 0) out.push({ ...a, lba: 0 });
      return out;
    }
    case 'read':
      return a.lba !== 0 ? [{ ...a, lba: 0 }] : [];
    case 'burst': {
      const { data: _data, span: _span, ...plain } = a;
      const out: WorldAction[] = [];
      if (a.data !== undefined || a.span !== undefined) out.push(plain);
      if (a.from !== 0) out.push({ ...a, from: 0 });
      return out;
    }
    case 'replace-disk': {
      const { cutAfterWrites: _cut, torn: _torn, ...plain } = a;
      return a.cutAfterWrites !== undefined || a.torn !== undefined ? [plain] : [];
    }
    default:
      return [];
  }
}

/** Worlds simpler than `config`, one change each, the most helpful first. */
function simplerConfigs(config: ScheduleConfig): ScheduleConfig[] {
  const out: ScheduleConfig[] = [];
  if (config.linkFaults !== undefined) out.push({ preset: config.preset });
  if (config.preset.nvlogHalfEntries !== SMALL_HALF)
    out.push({ ...config, preset: { ...config.preset, nvlogHalfEntries: SMALL_HALF } });
  return out;
}

/** The smallest NVLOG half campaigns draw (harness/schedule.ts). */
const SMALL_HALF = 3;

/** Adjacent ticks as one: `tick 3, tick 4` is `tick 7`. */
export function mergeTicks(actions: readonly WorldAction[]): WorldAction[] {
  const out: WorldAction[] = [];
  for (const a of actions) {
    const last = out[out.length - 1];
    if (a.kind === 'tick' && last?.kind === 'tick')
      out[out.length - 1] = { kind: 'tick', ticks: last.ticks + a.ticks };
    else out.push(a);
  }
  return out;
}

/** `actions[i]` with its tick count or burst count set to `size`. */
function withSize(actions: readonly WorldAction[], i: number, size: number): WorldAction[] {
  const out = actions.slice();
  const a = actions[i]!;
  if (a.kind === 'tick') out[i] = { kind: 'tick', ticks: size };
  else if (a.kind === 'burst') out[i] = { ...a, count: size };
  return out;
}

/** How many writes from `i` on are one source's, to LBAs a constant non-negative stride apart (0 if none). */
function writeRunAt(actions: readonly WorldAction[], i: number): number {
  const first = actions[i];
  if (first?.kind !== 'write') return 0;
  let n = 1;
  let stride = -1;
  for (let j = i + 1; j < actions.length; j++) {
    const a = actions[j]!;
    const prev = actions[j - 1] as typeof first;
    if (a.kind !== 'write' || a.source !== first.source) break;
    const step = a.lba - prev.lba;
    if (step < 0 || (stride >= 0 && step !== stride)) break;
    stride = step;
    n++;
  }
  return n;
}

/** The `n` writes from `i` on (a run writeRunAt found) as one burst. */
function asBurst(actions: readonly WorldAction[], i: number, n: number): WorldAction {
  const first = actions[i] as Extract<WorldAction, { kind: 'write' }>;
  const second = actions[i + 1] as Extract<WorldAction, { kind: 'write' }>;
  return { kind: 'burst', source: first.source, from: first.lba, count: n, stride: second.lba - first.lba };
}
