// The model side of lockstep: the statechart's snapshot and the abstract data, stepped together, one
// event at a time; a step is refused when the model does not enable the event (that is the finding).
//
// Observation events of one target step arrive together, and a target's observation does not say in
// which order they happened. `stepObserved` therefore accepts the step when some interleaving of its
// three families (CP events, relationship events, acks), each kept in its own order, is enabled.
//
// The harness, per relationship and per schedule step: ask `snapshot.can(env)` before injecting an
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
import { controlStateOf } from './control_cache.ts';
import { describeEvent, familyOf, type ModelEvent, type ObservationEvent } from './events.ts';
import { type ModelInput, type ModelSnapshot, nextSnapshot, relationshipMachine } from './statechart.ts';

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
export function step(state: ModelState, event: ModelEvent, facts: StepFacts = {}): StepOutcome {
  const memo = memoOf(state.snapshot);
  const key = eventKey(event);
  if (!canIn(state.snapshot, memo, event, key))
    return { ok: false, reason: notEnabled(state.snapshot, event) };
  const { data, violation } = updateData(state, event, facts);
  let snapshot = memo.next.get(key);
  if (snapshot === undefined) {
    snapshot = nextOf(state.snapshot, memo, event, key);
    memo.next.set(key, snapshot);
  }
  return { ok: true, state: { snapshot, data }, violations: violation === null ? [] : [violation] };
}

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

/** Whether the statechart enables `event` in `snapshot`: xstate's `snapshot.can`, memoised. */
export function enabledIn(snapshot: ModelSnapshot, event: ModelEvent): boolean {
  return canIn(snapshot, memoOf(snapshot), event, eventKey(event));
}

// Memo of the statechart's pure steps. xstate's `can` and `transition` cost tens of microseconds each,
// and lockstep asks the same questions over and over: every TICK of every relationship, in states
// that differ only in context fields the answer never reads (write ids, CP numbers). Both are pure
// functions of the snapshot's status and state value, the event, and what they read of the context:
// the machine has no children, history states, tags or output, and its actions other than assign run
// nowhere (statechart.ts, INERT_SCOPE). So the first time a question is asked, xstate answers it on
// the snapshot with its context behind a proxy that records every field read; the answer is kept
// under the status, value, event and the JSON of exactly those fields. Any later context that agrees
// on them gets the same answer, because xstate would compute it from the same inputs. A step that
// leaves the context alone is reused with the new context in place of the old; one that assigns is
// not kept (an assign copies, so reads, the whole context). Every answer is xstate's own; the memo
// only saves recomputing it.

/** Per snapshot object: its control key and the answers already given for it, by event key. */
interface SnapshotMemo {
  readonly control: string;
  readonly can: Map<string, boolean>;
  readonly next: Map<string, ModelSnapshot>;
}

/** Answers xstate gave, for contexts that agree on `fields` (the ones it read), by their JSON. */
interface Answers<T> {
  readonly fields: readonly string[];
  readonly signature: string;
  readonly byValues: Map<string, T>;
}

const memoBySnapshot = new WeakMap<ModelSnapshot, SnapshotMemo>();
const controlByNodes = new WeakMap<object, string>();
const canAnswers = new Map<string, Answers<boolean>[]>();
/** Per control key and event type: whether the last step computed there assigned a new context. */
const assigned = new Map<string, boolean>();
/** Steps that left the context alone: templates, the same snapshot over any agreeing context. */
const nextAnswers = new Map<string, Answers<ModelSnapshot>[]>();
/** Bounded: past this many answers both tables start over (only speed is lost). */
const ANSWERS_MAX = 1 << 17;
let answerCount = 0;

function memoOf(snapshot: ModelSnapshot): SnapshotMemo {
  let memo = memoBySnapshot.get(snapshot);
  if (memo === undefined) {
    memo = { control: controlKey(snapshot), can: new Map(), next: new Map() };
    memoBySnapshot.set(snapshot, memo);
  }
  return memo;
}

/**
 * The snapshot's status and active state nodes in the snapshot's own order. The order matters: xstate
 * derives the state value from it and appends entered nodes at its end, so two snapshots with one
 * value can list their nodes differently; keyed by the order, a reused answer is xstate's to the field.
 */
function controlKey(snapshot: ModelSnapshot): string {
  const nodes = snapshot._nodes;
  let key = controlByNodes.get(nodes);
  if (key === undefined) {
    key = nodes.map((n) => n.id).join(',');
    controlByNodes.set(nodes, key);
  }
  return `${snapshot.status}|${key}`;
}

/** Events are plain data: equal JSON, equal event (an absent field and an undefined one alike). */
function eventKey(event: ModelEvent): string {
  return JSON.stringify(event);
}

function canIn(snapshot: ModelSnapshot, memo: SnapshotMemo, event: ModelEvent, key: string): boolean {
  let can = memo.can.get(key);
  if (can !== undefined) return can;
  const question = `${memo.control}|${key}`;
  can = lookup(canAnswers, question, snapshot.context);
  if (can === undefined) {
    const probe = probeOf(snapshot);
    can = probe.snapshot.can(event);
    if (probe.cacheable()) remember(canAnswers, question, probe.fields(), snapshot.context, can);
  }
  memo.can.set(key, can);
  return can;
}

function nextOf(snapshot: ModelSnapshot, memo: SnapshotMemo, event: ModelEvent, key: string): ModelSnapshot {
  // A step that assigns reads the whole context (it copies it), so its answer would only be reused for
  // an equal context, which seldom comes back (write ids, CP numbers): where the last step of this kind
  // assigned, xstate runs on the plain snapshot and nothing is kept.
  const kind = `${memo.control}|${event.type}`;
  if (assigned.get(kind) === true) {
    const plain = nextSnapshot(snapshot, event);
    if (plain.context === snapshot.context) assigned.set(kind, false);
    return plain;
  }
  const question = `${memo.control}|${key}`;
  const template = lookup(nextAnswers, question, snapshot.context);
  if (template !== undefined) return over(template, snapshot);
  const probe = probeOf(snapshot);
  const out = nextSnapshot(probe.snapshot, event);
  if (out.context !== probe.snapshot.context) {
    assigned.set(kind, true);
    // A fresh context, copied field by field through the proxy: the context's own values.
    return out;
  }
  const next = over(out, snapshot);
  if (probe.cacheable()) remember(nextAnswers, question, probe.fields(), snapshot.context, next);
  return next;
}

/**
 * `template` with `from`'s context: what xstate gives for `from` when the step leaves the context alone.
 * When that is `from` itself, field for field (a TICK that changes nothing, once `from` was built over
 * this template), `from` is returned: the same object keeps its memo, so an idle relationship's next
 * TICK costs two map look-ups. Exact: a snapshot is immutable plain data, so an object with the same
 * own fields holding the same values is the same snapshot to every reader.
 */
function over(template: ModelSnapshot, from: ModelSnapshot): ModelSnapshot {
  return sameBut(template, from) ? from : ({ ...template, context: from.context } as ModelSnapshot);
}

/** Whether `a` and `b` have the same own keys, in order, and the same values at each but `context`. */
function sameBut(a: ModelSnapshot, b: ModelSnapshot): boolean {
  if (a._nodes !== b._nodes) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i]) return false;
    if (
      k !== 'context' &&
      (a as unknown as Record<string, unknown>)[k] !== (b as unknown as Record<string, unknown>)[k]
    )
      return false;
  }
  return true;
}

function lookup<T>(table: Map<string, Answers<T>[]>, question: string, context: object): T | undefined {
  const all = table.get(question);
  if (all === undefined) return undefined;
  for (const answers of all) {
    const found = answers.byValues.get(valuesOf(context, answers.fields));
    if (found !== undefined) return found;
  }
  return undefined;
}

function remember<T>(
  table: Map<string, Answers<T>[]>,
  question: string,
  fields: readonly string[],
  context: object,
  answer: T,
): void {
  if (++answerCount > ANSWERS_MAX) {
    canAnswers.clear();
    nextAnswers.clear();
    assigned.clear();
    answerCount = 1;
  }
  let all = table.get(question);
  if (all === undefined) {
    all = [];
    table.set(question, all);
  }
  const signature = fields.join(',');
  let answers = all.find((a) => a.signature === signature);
  if (answers === undefined) {
    answers = { fields, signature, byValues: new Map() };
    all.push(answers);
  }
  answers.byValues.set(valuesOf(context, fields), answer);
}

/** The JSON of the named fields, in order; a missing field reads apart from any present value. */
function valuesOf(context: object, fields: readonly string[]): string {
  let out = '';
  for (const f of fields)
    out += `${f in context ? JSON.stringify((context as Record<string, unknown>)[f]) : '!'}\u0000`;
  return out;
}

interface Probe {
  /** The snapshot with its context behind the recording proxy. */
  readonly snapshot: ModelSnapshot;
  /** The context fields read so far, sorted. */
  fields(): string[];
  /** Nothing was written through the proxy and no read escaped the record. */
  cacheable(): boolean;
}

function probeOf(snapshot: ModelSnapshot): Probe {
  const context = snapshot.context;
  const read = new Set<string>();
  let all = false;
  let tainted = false;
  const note = (p: string | symbol) => {
    if (typeof p === 'string') read.add(p);
    else all = true;
  };
  const proxy = new Proxy(context, {
    get(target, p, receiver) {
      note(p);
      return Reflect.get(target, p, receiver);
    },
    has(target, p) {
      note(p);
      return Reflect.has(target, p);
    },
    getOwnPropertyDescriptor(target, p) {
      note(p);
      return Reflect.getOwnPropertyDescriptor(target, p);
    },
    ownKeys(target) {
      all = true;
      return Reflect.ownKeys(target);
    },
    set() {
      tainted = true;
      return false;
    },
    defineProperty() {
      tainted = true;
      return false;
    },
    deleteProperty() {
      tainted = true;
      return false;
    },
  });
  return {
    snapshot: { ...snapshot, context: proxy } as ModelSnapshot,
    fields: () => (all ? Object.keys(context) : [...read]).sort(),
    cacheable: () => !tainted,
  };
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
  const plain = (d: AbstractData): DataUpdate => ({ data: d, violation: null });
  switch (event.type) {
    case 'WRITE': {
      const refusable = c.mode === 'strict-sync' && controlStateOf(snapshot).relationship !== 'inSync';
      return plain(acceptWrite(data, event.writeId, event.lba, refusable));
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

function answerContext(snapshot: ModelSnapshot, event: { readonly writeId: number }): AnswerContext {
  const c = snapshot.context;
  const s = controlStateOf(snapshot);
  return {
    mode: c.mode,
    relationship: s.relationship,
    mirrored: c.pending.find((w) => w.writeId === event.writeId)?.mirrored === true,
    promoted: s.destination === 'promoted',
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

type Family = 'cp' | 'relationship' | 'ack';

function familyOfObservation(event: ObservationEvent): Family {
  if (event.type === 'WRITE_ACKED' || event.type === 'WRITE_FAILED') return 'ack';
  return event.type.startsWith('REL_') ? 'relationship' : 'cp';
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

export function stepObserved(
  state: ModelState,
  events: readonly ObservationEvent[],
  facts: StepFacts = {},
): ObservedOutcome {
  // No events: the search's only node is the empty interleaving, accepted as it stands.
  if (events.length === 0) return { ok: true, state, order: [], violations: [] };
  const queues: Record<Family, ObservationEvent[]> = { cp: [], relationship: [], ack: [] };
  for (const e of events) queues[familyOfObservation(e)].push(e);
  const search = new Interleaving(queues, factsFor(events, facts));
  const found = search.run(state);
  if (found) return { ok: true, ...found };
  return { ok: false, reason: search.firstRefusal(state, events) };
}

/** Images go to the last event of their kind in the step: that is when the harness read them. */
function factsFor(events: readonly ObservationEvent[], facts: StepFacts): Map<ObservationEvent, StepFacts> {
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
function impliedBefore(state: ModelState, event: ObservationEvent): ObservationEvent[] {
  const rootWritten = controlStateOf(state.snapshot).source === 'serving.cp.committing';
  return event.type === 'PRIMARY_CP_COMMITTED' && rootWritten
    ? [{ type: 'CP_COMPLETED' }, { type: 'CP_STARTED' }, event]
    : [];
}

/** Steps `events` in order, the facts going to the last; null if one is not enabled. */
function stepEach(
  state: ModelState,
  events: readonly ObservationEvent[],
  facts: StepFacts | undefined,
): { state: ModelState; violations: string[] } | null {
  if (events.length === 0) return null;
  let current = state;
  const violations: string[] = [];
  for (const [i, e] of events.entries()) {
    const out = step(current, e, i === events.length - 1 ? facts : undefined);
    if (!out.ok) return null;
    current = out.state;
    violations.push(...out.violations);
  }
  return { state: current, violations };
}

class Interleaving {
  private visited = 0;

  constructor(
    private readonly queues: Readonly<Record<Family, readonly ObservationEvent[]>>,
    private readonly facts: ReadonlyMap<ObservationEvent, StepFacts>,
  ) {}

  run(state: ModelState): { state: ModelState; order: ObservationEvent[]; violations: string[] } | null {
    return this.from(state, { cp: 0, relationship: 0, ack: 0 });
  }

  private from(
    state: ModelState,
    at: Record<Family, number>,
  ): { state: ModelState; order: ObservationEvent[]; violations: string[] } | null {
    if (++this.visited > SEARCH_BUDGET) return null;
    const families = (['cp', 'relationship', 'ack'] as const).filter((f) => at[f] < this.queues[f].length);
    if (families.length === 0) return { state, order: [], violations: [] };
    for (const f of families) {
      const event = this.queues[f][at[f]]!;
      for (const events of [[event], impliedBefore(state, event)]) {
        const out = stepEach(state, events, this.facts.get(event));
        if (!out) continue;
        const rest = this.from(out.state, { ...at, [f]: at[f] + 1 });
        if (rest)
          return {
            state: rest.state,
            order: [...events, ...rest.order],
            violations: [...out.violations, ...rest.violations],
          };
      }
    }
    return null;
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
