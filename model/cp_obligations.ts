// The CP rules of harness/target.ts as obligations the model states after every step: what must have
// happened by now (a CP started by the timer, a CP started when the NVLOG half filled) and what must not
// (a write answered while both NVLOG halves were full, a CP image that holds too little or too much).
// Counted on the abstract data's write positions; a step's own writes may go either way (one step of
// uncertainty, as rule N2 says). Each finding names its rule and property.

import { type AbstractData, checkCpHolds, entriesBetween, writeIndex } from './abstract_data.ts';
import { controlStateOf } from './control_cache.ts';
import type { ModelState } from './lockstep.ts';

/**
 * The properties these obligations report, for the property table and the partner check: they are
 * judged by the model in lockstep (harness/model_checker.ts), so `--no-model` skips them.
 */
export const CP_PROPERTIES = [
  {
    name: 'cp-starts-on-time',
    rule: 'T1',
    description: 'with writes logged since the last CP start, a CP starts within cpIntervalTicks + 1',
    partners: ['cp-started-by-timer'],
  },
  {
    name: 'cp-starts-when-nvlog-half-fills',
    rule: 'T2',
    description: 'a write that finds the active NVLOG half full starts a CP, unless one is in progress',
    partners: ['nvlog-half-filled'],
  },
  {
    name: 'writes-stall-while-nvlog-full',
    rule: 'N1',
    description: 'while both NVLOG halves are full, writes are neither acknowledged nor failed',
    partners: ['writes-stalled-behind-full-nvlog'],
  },
  {
    name: 'cp-image-holds-accepted-writes',
    rule: 'N2',
    description: 'CP n holds every write logged before the step it started in, and none accepted after it',
    partners: ['cp-started-by-timer', 'nvlog-half-filled'],
  },
] as const;

export interface CpLimits {
  readonly cpIntervalTicks: number;
  readonly nvlogHalfEntries: number;
}

export interface Finding {
  readonly property: string;
  readonly message: string;
}

/** What the step reached, for the `sometimes` partners. */
export interface CpMilestones {
  /** A CP was due by the timer with writes dirty, and started. */
  cpStartedByTimer: boolean;
  /** The active NVLOG half filled (the next write starts a CP or stalls). */
  halfFilled: boolean;
  /** Writes were stalled: the active half full while a CP was in progress. */
  writesStalled: boolean;
}

const inCp = (s: ModelState) => controlStateOf(s.snapshot).source.startsWith('serving.cp');
/** A lost volume (rule D4) owes no CP: T1, T2 and N1 stop binding its source. */
const judged = (s: ModelState) => {
  const c = controlStateOf(s.snapshot);
  return (
    c.source !== 'crashed' &&
    c.destination !== 'promoted' &&
    c.relationship !== 'failedOver' &&
    !s.snapshot.context.volumeLost
  );
};

/**
 * `before` and `after` the step; `answered` the write ids the target answered in it (acks and failures,
 * not the world's); `primaryCommitted` when the step committed a primary CP whose image was read.
 */
export function cpObligations(
  before: ModelState,
  after: ModelState,
  answered: readonly number[],
  primaryCommitted: number | null,
  limits: CpLimits,
  reached: CpMilestones,
): Finding | null {
  const d = after.data;
  if (primaryCommitted !== null) {
    const m = checkCpHolds(d, primaryCommitted, before.data.lastPrimaryCut, limits.nvlogHalfEntries);
    if (m) return { property: 'cp-image-holds-accepted-writes', message: m };
  }
  if (!judged(after)) return null;
  const since = d.cpStart.hi;
  const entries = entriesBetween(d, since, d.writes.length);
  if (entries >= limits.nvlogHalfEntries) reached.halfFilled = true;
  if (d.cpStart !== before.data.cpStart && d.clock.tick >= before.data.timerTick + limits.cpIntervalTicks)
    if (entriesBetween(before.data, before.data.cpStart.hi, before.data.writes.length) > 0)
      reached.cpStartedByTimer = true;
  if (inCp(after)) {
    if (entries > limits.nvlogHalfEntries) reached.writesStalled = true;
    return d.cpStart === before.data.cpStart && inCp(before) ? stalledAnswered(d, answered, limits) : null;
  }
  if (entries > limits.nvlogHalfEntries)
    return {
      property: 'cp-starts-when-nvlog-half-fills',
      message: `${entries} writes were logged since the CP that started at tick ${d.cpStart.tick}, more than an NVLOG half holds (${limits.nvlogHalfEntries}), and no CP is in progress`,
    };
  const due = Math.max(d.timerTick + limits.cpIntervalTicks, d.cpCompletedTick) + 1;
  if (entries > 0 && d.clock.tick > due)
    return {
      property: 'cp-starts-on-time',
      message: `no CP started by tick ${d.clock.tick} though ${entries} writes were logged since the last CP start (tick ${d.cpStart.tick}); the CP timer (cpIntervalTicks ${limits.cpIntervalTicks}) was due by tick ${due}`,
    };
  return null;
}

/** N1: the step answered a write past the active half's room while the CP that froze the other ran on. */
function stalledAnswered(d: AbstractData, answered: readonly number[], limits: CpLimits): Finding | null {
  for (const id of answered) {
    const i = writeIndex(d, id);
    if (i === undefined || i < d.cpStart.hi) continue;
    const w = d.writes[i]!;
    if (w.fate === 'failed' && w.refusable === true) continue; // refused: it took no entry
    const entry = entriesBetween(d, d.cpStart.hi, i) + 1;
    if (entry > limits.nvlogHalfEntries)
      return {
        property: 'writes-stall-while-nvlog-full',
        message: `write ${id} was ${w.fate === 'acked' ? 'acknowledged' : 'failed'} as entry ${entry} after the CP that started at tick ${d.cpStart.tick}, while that CP was still in progress: both NVLOG halves (${limits.nvlogHalfEntries} entries each) were full, so it must stall`,
      };
  }
  return null;
}
