// The refinement mapping: what any target shows (harness/target.ts) mapped to the model's control
// state and counters, compared after every step; and the observation events two observations imply.
//
// A target shows less than the model holds, so one observation allows several model states:
// - a source up with cpInProgress: any CP phase (frozen, flushing, cpSync, committing); the phases
//   are not observable, and the model's advance one per TICK while a target may be faster;
// - a source up between CPs: serving.idle, or recovering (restarted, before its first CP);
// - a destination up: up or applyingCpSync (whether a CP sync is under way is not observable);
// - the link is the harness's own network: a target does not show it, so it is never compared.
// A down source's relationship and counters are not compared (they are what its console last showed).

import type { Effect, RelationshipState, SourceObservation } from '../harness/target.ts';
import { controlStateOf } from './control_cache.ts';
import type { ObservationEvent } from './events.ts';
import type { DestinationState, ModelSnapshot, RelationshipRegionState, SourceState } from './statechart.ts';

export type AckEffect = Extract<Effect, { readonly kind: 'ack' }>;

export interface ExpectedControl {
  readonly source: readonly SourceState[];
  readonly destination: readonly DestinationState[];
  /** Empty: not compared (the source is down and not failed over). */
  readonly relationship: readonly RelationshipRegionState[];
}

const CP_PHASES: readonly SourceState[] = [
  'serving.cp.frozen',
  'serving.cp.flushing',
  'serving.cp.cpSync',
  'serving.cp.committing',
];

const REGION_OF: Readonly<Record<RelationshipState, RelationshipRegionState>> = {
  'in-sync': 'inSync',
  'out-of-sync': 'outOfSync',
  resyncing: 'resyncing',
  'failed-over': 'failedOver',
};

/** The model states a target's observation of one relationship allows, region by region. */
export function expectedControl(observation: SourceObservation, destinationUp: boolean): ExpectedControl {
  const failedOver = observation.relationship === 'failed-over';
  return {
    source: !observation.up
      ? ['crashed']
      : observation.cpInProgress
        ? CP_PHASES
        : ['serving.idle', 'recovering'],
    destination: !destinationUp ? ['crashed'] : failedOver ? ['promoted'] : ['up', 'applyingCpSync'],
    relationship: observation.up || failedOver ? [REGION_OF[observation.relationship]] : [],
  };
}

/**
 * Every way the target's observation differs from what the model allows now: empty when the target
 * is in a state the model allows. Call it after the step's observation events were applied.
 */
export function compare(
  snapshot: ModelSnapshot,
  observation: SourceObservation,
  destinationUp: boolean,
): readonly string[] {
  const expected = expectedControl(observation, destinationUp);
  const actual = controlStateOf(snapshot);
  const c = snapshot.context;
  // Built only when something differs: a step that matches (nearly every one) allocates nothing here,
  // and no closure either (under tsx each named closure costs a defineProperty when it is created).
  let out: string[] | null = null;
  out = region(out, 'source', actual.source, expected.source);
  out = region(out, 'destination', actual.destination, expected.destination);
  out = region(out, 'relationship', actual.relationship, expected.relationship);
  if (observation.up) out = counter(out, 'primaryCp', observation.primaryCp, c.primaryCp);
  if (destinationUp) out = counter(out, 'mirrorCp', observation.mirrorCp, c.mirrorCp);
  if (observation.up && actual.destination !== 'promoted')
    out = counter(out, 'pendingWrites', observation.pendingWrites, c.pending.length);
  return out ?? NO_MISMATCHES;
}

const NO_MISMATCHES: readonly string[] = [];

function region(
  out: string[] | null,
  name: string,
  model: string,
  allowed: readonly string[],
): string[] | null {
  if (allowed.length === 0 || allowed.includes(model)) return out;
  const m = `${name}: the target shows what the model calls ${allowed.join(' or ')}; the model is in ${model}`;
  return out === null ? [m] : [...out, m];
}

function counter(out: string[] | null, name: string, shown: number, model: number): string[] | null {
  if (shown === model) return out;
  const m = `${name}: the target shows ${shown}, the model holds ${model}`;
  return out === null ? [m] : [...out, m];
}

/** The ack effects of one relationship: its source's, and after failover the promoted mirror's. */
export function ackEffects(effects: readonly Effect[], ours: (writeId: number) => boolean): AckEffect[] {
  return effects.filter((e): e is AckEffect => e.kind === 'ack' && ours(e.writeId));
}

/**
 * The observation events two successive observations of one relationship and the acks drained in
 * between imply, in a deterministic order: CP events (source and mirror, in causal order), then
 * relationship changes, then acks in effect order. lockstep.ts's `stepObserved` accepts the step if
 * some interleaving of these three families, each kept in order, is enabled.
 *
 * A power cut ends the step it falls in: feed that step's events (the observation after the cut shows
 * the node down) before CRASH_SOURCE or CRASH_DEST. Counters are on disk and survive the crash.
 */
export function observationEvents(
  prev: SourceObservation,
  next: SourceObservation,
  acks: readonly AckEffect[],
): readonly ObservationEvent[] {
  const cp = cpEvents(prev, next);
  const busy = acks.length > 0 || cp.length > 0;
  const relationship = relationshipEvents(prev, next, busy);
  if (cp.length === 0 && relationship.length === 0 && acks.length === 0) return NO_OBSERVED_EVENTS;
  return [...cp, ...relationship, ...acks.map(ackEvent)];
}

/**
 * An observation cannot say whether the CP in progress at `prev` has its root written (a target may
 * show cpInProgress until its root or, as the reference does, until the mirror's confirm): a higher
 * primaryCp reads here as that CP's root. Where the model knows the root was written, `stepObserved`
 * adds the completion and the next start the observation implies (lockstep.ts).
 */
function cpEvents(prev: SourceObservation, next: SourceObservation): readonly ObservationEvent[] {
  let open = prev.up && prev.cpInProgress;
  const mirrorUp = next.mirrorCp > prev.mirrorCp;
  // Nothing moved (most steps): no events, and nothing allocated.
  if (!mirrorUp && next.primaryCp <= prev.primaryCp && !(next.up && open !== next.cpInProgress))
    return NO_OBSERVED_EVENTS;
  const out: ObservationEvent[] = [];
  let mirrorDue = mirrorUp;
  // The mirror commits a CP the primary committed: emit it right after that CP's root.
  if (mirrorDue && next.mirrorCp <= prev.primaryCp) {
    out.push({ type: 'MIRROR_CP_COMMITTED', cp: next.mirrorCp });
    mirrorDue = false;
  }
  // CP numbers may have gaps (rule C1): a higher primaryCp reads as one commit, of that number. Two CPs
  // in one step read as one; the model's images of CPs it never saw are unknown, not guessed.
  if (next.primaryCp > prev.primaryCp) {
    if (!open) out.push({ type: 'CP_STARTED' });
    out.push({ type: 'PRIMARY_CP_COMMITTED', cp: next.primaryCp });
    open = true;
    if (mirrorDue && next.mirrorCp <= next.primaryCp) {
      out.push({ type: 'MIRROR_CP_COMMITTED', cp: next.mirrorCp });
      mirrorDue = false;
    }
  }
  // Ahead of the primary (the model refuses it before failover; after it, the promoted volume's CPs).
  if (mirrorDue) out.push({ type: 'MIRROR_CP_COMMITTED', cp: next.mirrorCp });
  // A crash aborts a CP rather than completing it; a restart may start one.
  if (next.up && open && !next.cpInProgress) out.push({ type: 'CP_COMPLETED' });
  if (next.up && !open && next.cpInProgress) out.push({ type: 'CP_STARTED' });
  return out;
}

const NO_OBSERVED_EVENTS: readonly ObservationEvent[] = [];

const EVENT_OF: Readonly<Record<RelationshipState, ObservationEvent>> = {
  'in-sync': { type: 'REL_IN_SYNC' },
  'out-of-sync': { type: 'REL_OUT_OF_SYNC' },
  resyncing: { type: 'REL_RESYNCING' },
  'failed-over': { type: 'REL_FAILED_OVER' },
};

/** A down source reads as out of sync (it must resynchronise when it comes back), unless failed over. */
function shownRelationship(o: SourceObservation): RelationshipState {
  return o.up || o.relationship === 'failed-over' ? o.relationship : 'out-of-sync';
}

/**
 * From one relationship state to the next along in sync -> out of sync -> resyncing -> in sync.
 *
 * A source that lost power in this step shows nothing of what it did before the cut. If it did
 * anything the relationship bears on (answered writes, committed or completed a CP), it may have gone
 * out of sync first, when the destination timed out in that same tick (a strict-sync write fails, a
 * sync write is acknowledged alone, a CP completes without the mirror's confirm): the step then holds
 * REL_OUT_OF_SYNC. That is what the observation allows, not a license: the step's other events are
 * still judged in some order of them all.
 */
function relationshipEvents(
  prev: SourceObservation,
  next: SourceObservation,
  busy: boolean,
): readonly ObservationEvent[] {
  const from = shownRelationship(prev);
  const to = shownRelationship(next);
  if (!next.up && to !== 'failed-over')
    return busy && (from === 'in-sync' || from === 'resyncing')
      ? [EVENT_OF['out-of-sync']]
      : NO_OBSERVED_EVENTS;
  // No move (most steps): nothing to walk.
  if (from === to && !(next.up && next.relationshipPath?.length)) return NO_OBSERVED_EVENTS;
  // Rule O5: a step that passed through several states shows them; each move is read on its own.
  const path = next.up && next.relationshipPath?.length ? next.relationshipPath : [to];
  const out: ObservationEvent[] = [];
  let at = from;
  for (const r of path) {
    out.push(...relationshipMove(at, r));
    at = r;
  }
  return out;
}

/** The events of one move from `from` to `to`, along the cycle where it skips states. */
function relationshipMove(from: RelationshipState, to: RelationshipState): ObservationEvent[] {
  if (from === to) return [];
  if (to === 'out-of-sync' || to === 'failed-over' || from === 'failed-over') return [EVENT_OF[to]];
  const cycle: readonly RelationshipState[] = ['in-sync', 'out-of-sync', 'resyncing'];
  const out: ObservationEvent[] = [];
  for (let i = cycle.indexOf(from); cycle[i] !== to; ) {
    i = (i + 1) % cycle.length;
    out.push(EVENT_OF[cycle[i]!]);
  }
  return out;
}

function ackEvent(ack: AckEffect): ObservationEvent {
  return ack.ok
    ? { type: 'WRITE_ACKED', writeId: ack.writeId }
    : { type: 'WRITE_FAILED', writeId: ack.writeId };
}
