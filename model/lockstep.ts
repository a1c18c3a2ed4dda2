// The model side of lockstep: the statechart's snapshot and the abstract data, stepped together, one
// event at a time; a step is refused when the model does not enable the event (that is the finding).
//
// Observation events of one target step arrive together, and a target's observation does not say in
// which order they happened. `stepObserved` therefore accepts the step when some interleaving of its
// three families (CP events, relationship events, acks), each kept in its own order, is enabled.
//
// The harness, per relationship and per schedule step: ask `enabledIn(snapshot, env)` before injecting an
// environment event; `step` the model with it and do it to the target; observe, drain the acks of
// this relationship, `stepObserved(state, observationEvents(prev, next, acks), images)`; then
// `compare` (refinement.ts) and `brokenAlways` (properties.ts). A power cut ends the step it falls
// in: feed that step's observation first, then CRASH_SOURCE / CRASH_DEST. At READ, FAILOVER and
// the log file, the data has checks of its own: checkRead, recordPromotedImage, checkLogFile.

import { initialTransition } from 'xstate';
import {
  type AbstractData,
  type AnswerContext,
  acceptWrite,
  answerWrite,
  beginResync,
  beginStep,
  completeCp,
  EMPTY_IMAGE,
  emptyData,
  forgetPrimaryImage,
  guaranteeAcknowledged,
  type Image,
  idealImage,
  noteMilestone,
  putInDoubt,
  recordFailover,
  recordMirrorImage,
  recordPrimaryImage,
  restartTimer,
  startCp,
} from './abstract_data.ts';
import { relationshipChart } from './compiled_chart.ts';
import { controlStateOf } from './control_cache.ts';
import { describeEvent, familyOf, type ModelEvent, type ObservationEvent } from './events.ts';
import { type ModelInput, type ModelSnapshot, relationshipMachine } from './statechart.ts';

export interface ModelState {
  readonly snapshot: ModelSnapshot;
  readonly data: AbstractData;
}

/** What the harness read from a target after a step: the committed images, for the CP events. */
export interface StepFacts {
  /** The primary's committed image, for the step's last PRIMARY_CP_COMMITTED. */
  readonly primaryImage?: Image;
  /** The mirror's committed image, for the step's last MIRROR_CP_COMMITTED. */
  readonly mirrorImage?: Image;
  /**
   * The harness reads a target's images. A CP committed in a step without its image (a target may
   * commit several CPs in one step, and only the last is there to read) then has an unknown image: it
   * is not recorded. Without a target (model-only runs) such a CP gets the ideal image of the writes
   * accepted before it started; with a target that would be a guess, since its CP may have frozen its
   * writes earlier than the harness saw it start.
   */
  readonly imagesRead?: boolean;
}

export type StepOutcome =
  | { readonly ok: true; readonly state: ModelState; readonly violations: readonly string[] }
  | { readonly ok: false; readonly reason: string };

export function initialModelState(input: ModelInput): ModelState {
  // Snapshots are immutable: every run of one input may start from the same one.
  const key = JSON.stringify([input.sourceId, input.mode]);
  let snapshot = initialSnapshots.get(key);
  if (snapshot === undefined) {
    snapshot = initialTransition(relationshipMachine, input)[0];
    initialSnapshots.set(key, snapshot);
  }
  return { snapshot, data: emptyData() };
}

const initialSnapshots = new Map<string, ModelSnapshot>();

/** A target step begins at world tick `tick`: the CP rules count from it (abstract_data.ts, `beginStep`). */
export function beginModelStep(state: ModelState, tick: number): ModelState {
  return { snapshot: state.snapshot, data: beginStep(state.data, tick) };
}

/** One event: refused if the model does not enable it; else the next state and any data violations. */
export function step(state: ModelState, event: ModelEvent, facts: StepFacts = NO_FACTS): StepOutcome {
  if (!relationshipChart.can(state.snapshot, event))
    return { ok: false, reason: notEnabled(state.snapshot, event) };
  const { data, violation } = updateData(state, event, facts);
  const snapshot = relationshipChart.next(state.snapshot, event);
  return {
    ok: true,
    state: { snapshot, data },
    violations: violation === null ? NO_VIOLATIONS : [violation],
  };
}

const NO_VIOLATIONS: readonly string[] = [];
const NO_FACTS: StepFacts = {};

/** A sequence of events, in order: stops at the first one not enabled. */
export function stepAll(state: ModelState, events: readonly ModelEvent[]): StepOutcome {
  let current = state;
  const violations: string[] = [];
  for (const event of events) {
    const out = step(current, event);
    if (!out.ok) return out;
    current = out.state;
    violations.push(...out.violations);
  }
  return { ok: true, state: current, violations };
}

/**
 * Whether the statechart enables `event` in `snapshot`: xstate's `snapshot.can`, answered by the
 * statechart compiled to a plain transition function (compiled_chart.ts, checked against xstate on
 * every graph state and along random walks by its test).
 */
export function enabledIn(snapshot: ModelSnapshot, event: ModelEvent): boolean {
  return relationshipChart.can(snapshot, event);
}

export function describeModelState(snapshot: ModelSnapshot): string {
  const s = controlStateOf(snapshot);
  const c = snapshot.context;
  const pending = c.pending.map((w) => `${w.writeId}${w.mirrored ? '(mirrored)' : ''}`).join(',');
  return (
    `source ${s.source}, destination ${s.destination}, link ${s.link}, relationship ${s.relationship}; ` +
    `primaryCp ${c.primaryCp}, mirrorCp ${c.mirrorCp}, pending [${pending}]`
  );
}

function notEnabled(snapshot: ModelSnapshot, event: ModelEvent): string {
  return `${describeEvent(event)} is not enabled (${snapshot.context.mode}): ${describeModelState(snapshot)}`;
}

// The abstract data follows the event, read against the snapshot before it.

interface DataUpdate {
  readonly data: AbstractData;
  readonly violation: string | null;
}

function updateData(state: ModelState, event: ModelEvent, facts: StepFacts): DataUpdate {
  const { snapshot } = state;
  // Each environment event begins a step (the harness feeds a step's own event first, its power cut
  // last): what the step's observation events count as "before this step".
  const data =
    familyOf(event) === 'environment' && state.data.clock.writesBefore !== state.data.writes.length
      ? { ...state.data, clock: { tick: state.data.clock.tick, writesBefore: state.data.writes.length } }
      : state.data;
  const c = snapshot.context;
  switch (event.type) {
    case 'WRITE': {
      const refusable = c.mode === 'strict-sync' && controlStateOf(snapshot).relationship !== 'inSync';
      return plain(acceptWrite(data, event.writeId, event.lba, refusable, event.content));
    }
    case 'WRITE_ACKED':
    case 'WRITE_FAILED':
      return plain(
        answerWrite(data, event.writeId, event.type === 'WRITE_ACKED', answerContext(snapshot, event)),
      );
    case 'CRASH_SOURCE':
      return plain(
        putInDoubt(
          data,
          c.pending.map((w) => w.writeId),
        ),
      );
    case 'CP_STARTED':
      return plain(startCp(data));
    case 'PRIMARY_CP_COMMITTED':
      if (facts.primaryImage) return recordPrimaryImage(data, event.cp, facts.primaryImage);
      if (facts.imagesRead) return plain(forgetPrimaryImage(data, event.cp));
      return recordPrimaryImage(data, event.cp, idealImage(data, data.cpStartCut));
    case 'CP_COMPLETED':
      return plain(
        completeCp(
          completedAloneInPartition(snapshot) ? noteMilestone(data, 'cpCompletedAloneInPartition') : data,
        ),
      );
    case 'RESTART_SOURCE':
      return plain(restartTimer(data));
    case 'MIRROR_CP_COMMITTED':
      return mirrorCommitted(snapshot, data, event.cp, facts.mirrorImage);
    case 'REL_RESYNCING':
      return plain(beginResync(data));
    case 'REL_IN_SYNC':
      return plain(noteMilestone(guaranteeAcknowledged(data, c.mode), 'resyncsCompleted'));
    case 'FAILOVER':
      return plain(recordFailover(data));
    default:
      return plain(data);
  }
}

/** No closure for this in updateData: under tsx each named closure costs a defineProperty per call. */
function plain(data: AbstractData): DataUpdate {
  return { data, violation: null };
}

function answerContext(snapshot: ModelSnapshot, event: { readonly writeId: number }): AnswerContext {
  const c = snapshot.context;
  const s = controlStateOf(snapshot);
  return {
    mode: c.mode,
    relationship: s.relationship,
    mirrored: c.pending.find((w) => w.writeId === event.writeId)?.mirrored === true,
    promoted: s.destination === 'promoted',
    ...(c.volumeLost ? { volumeLost: true } : {}),
  };
}

function completedAloneInPartition(snapshot: ModelSnapshot): boolean {
  const s = controlStateOf(snapshot);
  return (
    s.link === 'partitioned' &&
    s.relationship !== 'inSync' &&
    snapshot.context.mirrorCp < snapshot.context.primaryCp
  );
}

/** The mirror's image of a CP is the primary's image of it; the promoted volume's own CPs are not judged here. */
function mirrorCommitted(snapshot: ModelSnapshot, data: AbstractData, cp: number, image?: Image): DataUpdate {
  if (controlStateOf(snapshot).destination === 'promoted') return { data, violation: null };
  const ideal = data.primaryImages.get(cp)?.image ?? (cp === 0 ? EMPTY_IMAGE : undefined);
  const seen = image ?? ideal;
  return seen === undefined ? { data, violation: null } : recordMirrorImage(data, cp, seen);
}

// Observation steps: all the events one target step showed, in some enabled interleaving.

/** The three families, in the order the search tries them: CP events, relationship events, acks. */
const CP = 0;
const RELATIONSHIP = 1;
const ACK = 2;

function familyOfObservation(event: ObservationEvent): number {
  if (event.type === 'WRITE_ACKED' || event.type === 'WRITE_FAILED') return ACK;
  return event.type.startsWith('REL_') ? RELATIONSHIP : CP;
}

export type ObservedOutcome =
  | {
      readonly ok: true;
      readonly state: ModelState;
      /** The interleaving the model accepted. */
      readonly order: readonly ObservationEvent[];
      readonly violations: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

/** Nodes the interleaving search may visit: a target step shows a handful of events, never many. */
const SEARCH_BUDGET = 5000;

const NO_EVENTS: readonly ObservationEvent[] = [];

export function stepObserved(
  state: ModelState,
  events: readonly ObservationEvent[],
  facts: StepFacts = {},
): ObservedOutcome {
  // No events: the search's only node is the empty interleaving, accepted as it stands.
  if (events.length === 0) return { ok: true, state, order: NO_EVENTS, violations: NO_VIOLATIONS };
  const queues: ObservationEvent[][] = [[], [], []];
  for (const e of events) queues[familyOfObservation(e)]!.push(e);
  const search = new Interleaving(queues, factsFor(events, facts));
  const found = search.run(state);
  if (found) return { ok: true, ...found };
  return { ok: false, reason: search.firstRefusal(state, events) };
}

const NO_STEP_FACTS: ReadonlyMap<ObservationEvent, StepFacts> = new Map();

/** Images go to the last event of their kind in the step: that is when the harness read them. */
function factsFor(
  events: readonly ObservationEvent[],
  facts: StepFacts,
): ReadonlyMap<ObservationEvent, StepFacts> {
  if (!facts.imagesRead && !facts.primaryImage && !facts.mirrorImage) return NO_STEP_FACTS;
  const byEvent = new Map<ObservationEvent, StepFacts>();
  const lastOf = (type: ObservationEvent['type']) => events.filter((e) => e.type === type).at(-1);
  const primary = lastOf('PRIMARY_CP_COMMITTED');
  const mirror = lastOf('MIRROR_CP_COMMITTED');
  if (facts.imagesRead)
    for (const e of events) if (e.type === 'PRIMARY_CP_COMMITTED') byEvent.set(e, { imagesRead: true });
  if (primary && facts.primaryImage) byEvent.set(primary, { primaryImage: facts.primaryImage });
  if (mirror && facts.mirrorImage) byEvent.set(mirror, { mirrorImage: facts.mirrorImage });
  return byEvent;
}

/**
 * Events an observation implies but cannot show: a root for the next CP while the model's CP in
 * progress has its root written means that CP completed and another started (the observation reads
 * the same as a CP still before its root). They must be enabled like any other event.
 */
function impliedBefore(state: ModelState, event: ObservationEvent): readonly ObservationEvent[] {
  if (event.type !== 'PRIMARY_CP_COMMITTED') return NO_EVENTS;
  const rootWritten = controlStateOf(state.snapshot).source === 'serving.cp.committing';
  return rootWritten ? [{ type: 'CP_COMPLETED' }, { type: 'CP_STARTED' }, event] : NO_EVENTS;
}

/**
 * A depth-first search over the interleavings of the three families, each kept in order: at each
 * node the families are tried in order (CP, relationship, ack), and each family's next event alone
 * before the events it implies with it. The first complete interleaving found is the answer. The path
 * so far is kept in `order` and `violations`, cut back when a branch fails.
 */
class Interleaving {
  private visited = 0;
  private readonly at = [0, 0, 0];
  private readonly order: ObservationEvent[] = [];
  private readonly violations: string[] = [];

  constructor(
    private readonly queues: readonly (readonly ObservationEvent[])[],
    private readonly facts: ReadonlyMap<ObservationEvent, StepFacts>,
  ) {}

  run(state: ModelState): { state: ModelState; order: ObservationEvent[]; violations: string[] } | null {
    const end = this.from(state);
    return end === null ? null : { state: end, order: this.order, violations: this.violations };
  }

  private from(state: ModelState): ModelState | null {
    if (++this.visited > SEARCH_BUDGET) return null;
    let remaining = false;
    for (let f = CP; f <= ACK; f++) {
      const queue = this.queues[f]!;
      const i = this.at[f]!;
      if (i >= queue.length) continue;
      remaining = true;
      const event = queue[i]!;
      const facts = this.facts.get(event);
      for (let alternative = 0; alternative < 2; alternative++) {
        const orderMark = this.order.length;
        const violationMark = this.violations.length;
        const next =
          alternative === 0
            ? this.stepOne(state, event, facts)
            : this.stepEach(state, impliedBefore(state, event), facts);
        if (next !== null) {
          this.at[f] = i + 1;
          const end = this.from(next);
          this.at[f] = i;
          if (end !== null) return end;
        }
        this.order.length = orderMark;
        this.violations.length = violationMark;
      }
    }
    return remaining ? null : state;
  }

  /** One event onto the path; null if not enabled. */
  private stepOne(
    state: ModelState,
    event: ObservationEvent,
    facts: StepFacts | undefined,
  ): ModelState | null {
    const out = step(state, event, facts);
    if (!out.ok) return null;
    this.order.push(event);
    for (const v of out.violations) this.violations.push(v);
    return out.state;
  }

  /** `events` in order onto the path, the facts going to the last; null if one is not enabled or none. */
  private stepEach(
    state: ModelState,
    events: readonly ObservationEvent[],
    facts: StepFacts | undefined,
  ): ModelState | null {
    if (events.length === 0) return null;
    let current = state;
    for (let i = 0; i < events.length; i++) {
      const next = this.stepOne(current, events[i]!, i === events.length - 1 ? facts : undefined);
      if (next === null) return null;
      current = next;
    }
    return current;
  }

  /** Why the step is refused: the first event of the canonical order that the model does not enable. */
  firstRefusal(state: ModelState, events: readonly ObservationEvent[]): string {
    let current = state;
    for (const event of events) {
      const out = step(current, event);
      if (!out.ok) return `${out.reason} (and no other order of this step's events is enabled either)`;
      current = out.state;
    }
    return 'no order of these events is enabled (search budget exhausted)';
  }
}
