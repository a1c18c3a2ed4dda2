// Model-based path generation with xstate/graph: shortest paths to every state of the graph, and a
// transition cover (for each transition, the shortest path to a state where it fires, plus its event).
//
// Paths are plain data: each step is an event with the control state and counters expected after it,
// so the harness can drive a target with the environment steps and expect the observation steps. The
// graph is per mode (the mode is the machine's input). Its states are `serializeState`'s abstraction,
// so the graph is finite; the events offered per state are a finite list with representative payloads.
//
// Not getSimplePaths: on the whole parallel chart it is measured at ~980,000 paths in 108 s.

import { initialTransition } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { describeEvent, type EventFamily, familyOf, type Mode, type ModelEvent } from './events.ts';
import { transitionIdOf } from './inventory.ts';
import {
  type ControlState,
  controlState,
  type ModelSnapshot,
  nextSnapshot,
  relationshipMachine,
  serializeState,
} from './statechart.ts';

export const MODES: readonly Mode[] = ['sync', 'strict-sync', 'semi-sync'];

/** The source id the generated paths use: the first source of a world. */
export const PATH_SOURCE_ID = 'src0';

export interface ExpectedState {
  readonly control: ControlState;
  readonly primaryCp: number;
  readonly mirrorCp: number;
  readonly pendingWrites: number;
}

export interface PathStep {
  readonly event: ModelEvent;
  /** Environment steps are done to the target; observation steps are what it must then show. */
  readonly family: EventFamily;
  readonly expected: ExpectedState;
}

export interface ModelPath {
  readonly mode: Mode;
  /** 'state': the shortest path to one graph state; 'transition': the cover of one transition. */
  readonly purpose: 'state' | 'transition';
  /** The graph state (serializeState) or the transition id (inventory.ts) the path is for. */
  readonly target: string;
  readonly steps: readonly PathStep[];
}

export function expectedOf(snapshot: ModelSnapshot): ExpectedState {
  const c = snapshot.context;
  return {
    control: controlState(snapshot),
    primaryCp: c.primaryCp,
    mirrorCp: c.mirrorCp,
    pendingWrites: c.pending.length,
  };
}

// The finite event list per state.

const SIDES = ['source', 'destination'] as const;

/** Nothing in flight: the one state in which the graph takes disk faults. */
function quiet(snapshot: ModelSnapshot): boolean {
  const s = controlState(snapshot);
  return (
    s.source === 'serving.idle' &&
    s.destination === 'up' &&
    s.link === 'connected' &&
    s.relationship === 'inSync' &&
    snapshot.context.pending.length === 0
  );
}

function faulty(snapshot: ModelSnapshot): boolean {
  const f = snapshot.context.faults;
  return f.source.length > 0 || f.destination.length > 0;
}

export interface CandidateOptions {
  /** LBAs client requests use. */
  readonly lbas: readonly number[];
  /** No WRITE is offered while this many writes are pending. */
  readonly maxPending: number;
}

export const GRAPH_CANDIDATES: CandidateOptions = { lbas: [0, 1], maxPending: 1 };

/**
 * Every event type with representative payloads: the given LBAs, the next write id, the CP numbers
 * that matter (the primary's next, the mirror's next, the primary's own), an answer for each pending
 * write. Not all are enabled: `enabledEvents` keeps those the model enables.
 */
export function candidateEvents(
  snapshot: ModelSnapshot,
  options: CandidateOptions = GRAPH_CANDIDATES,
): ModelEvent[] {
  const c = snapshot.context;
  const writeId = c.lastWriteId + 1;
  const writes: ModelEvent[] =
    c.pending.length < options.maxPending ? options.lbas.map((lba) => ({ type: 'WRITE', lba, writeId })) : [];
  const answers: ModelEvent[] = c.pending.flatMap((w) => [
    { type: 'WRITE_ACKED', writeId: w.writeId } as const,
    { type: 'WRITE_FAILED', writeId: w.writeId } as const,
  ]);
  return [
    ...writes,
    { type: 'READ', lba: options.lbas[0] ?? 0 },
    { type: 'TICK' },
    { type: 'PARTITION' },
    { type: 'HEAL' },
    { type: 'CRASH_SOURCE' },
    { type: 'CRASH_SOURCE', midCpWrite: 1 },
    { type: 'CRASH_SOURCE', torn: true },
    { type: 'RESTART_SOURCE' },
    { type: 'CRASH_DEST' },
    { type: 'RESTART_DEST' },
    { type: 'FAILOVER' },
    ...SIDES.flatMap((side) => [
      { type: 'DISK_FAIL', side } as const,
      { type: 'LATENT_ERROR', side } as const,
      { type: 'REPLACE_DISK', side } as const,
      { type: 'DISK_REPAIRED', side } as const,
    ]),
    { type: 'VOLUME_LOST' },
    { type: 'MIRROR_LOST' },
    { type: 'CP_STARTED' },
    { type: 'PRIMARY_CP_COMMITTED', cp: c.primaryCp + 1 },
    { type: 'CP_COMPLETED' },
    { type: 'MIRROR_CP_COMMITTED', cp: c.mirrorCp + 1 },
    ...(c.primaryCp > c.mirrorCp + 1 ? [{ type: 'MIRROR_CP_COMMITTED', cp: c.primaryCp } as const] : []),
    ...answers,
    { type: 'REL_OUT_OF_SYNC' },
    { type: 'REL_RESYNCING' },
    { type: 'REL_IN_SYNC' },
    { type: 'REL_FAILED_OVER' },
  ];
}

const DISK_EVENTS: ReadonlySet<string> = new Set([
  'DISK_FAIL',
  'LATENT_ERROR',
  'REPLACE_DISK',
  'DISK_REPAIRED',
  'VOLUME_LOST',
  'MIRROR_LOST',
]);

const LOST_VOLUME_EVENTS: ReadonlySet<string> = new Set([
  'WRITE',
  'WRITE_ACKED',
  'WRITE_FAILED',
  'READ',
  'TICK',
  'CP_STARTED',
  'CP_COMPLETED',
  'CRASH_SOURCE',
  'FAILOVER',
  'REL_FAILED_OVER',
]);

const LOST_MIRROR_EVENTS: ReadonlySet<string> = new Set([
  'WRITE',
  'WRITE_ACKED',
  'WRITE_FAILED',
  'TICK',
  'CP_STARTED',
  'PRIMARY_CP_COMMITTED',
  'CP_COMPLETED',
  'REL_OUT_OF_SYNC',
]);

/**
 * What the graph explores besides the model's own enabling. Disk faults do not interact with the
 * protocol's control state (the fault atlas keeps them within what RAID survives), so the graph takes
 * them only in a quiet state, and while one is outstanding offers only disk events, reads and time:
 * otherwise they would multiply the graph ninefold. Random walks and the harness's schedules combine
 * them with everything else. (A filter, not a shorter event list: createTestModel adds a bare
 * `{ type }` for every event type a state handles and the list leaves out.)
 */
export function graphExplores(snapshot: ModelSnapshot, event: ModelEvent): boolean {
  // A lost volume (D4) is the end of its source: the graph explores what it may still do (take, fail
  // and acknowledge writes, start and give up a CP, lose power, be failed over), not the link's or the
  // destination's faults on top, which would multiply the graph fivefold.
  if (snapshot.context.volumeLost) return LOST_VOLUME_EVENTS.has(event.type);
  // A lost mirror (D5): the source carries on unmirrored, leaves in sync to complete its CPs, and
  // answers its writes; resyncs that can never finish and the link's faults are left to the schedules.
  if (snapshot.context.mirrorLost) return LOST_MIRROR_EVENTS.has(event.type);
  // At most one fault per side: a second on the same side (a RAID-DP group's) is left to the harness's
  // schedules; a fault goes by its disk's replacement or by a repair seen on the disks (a scrub's).
  if (faulty(snapshot)) {
    if (event.type === 'DISK_FAIL' || event.type === 'LATENT_ERROR')
      return snapshot.context.faults[event.side].length === 0;
    return DISK_EVENTS.has(event.type) || event.type === 'READ' || event.type === 'TICK';
  }
  return !DISK_EVENTS.has(event.type) || quiet(snapshot);
}

/** The candidates the model enables now: what a schedule generator or a random walk may pick from. */
export function enabledEvents(
  snapshot: ModelSnapshot,
  options: CandidateOptions = GRAPH_CANDIDATES,
): ModelEvent[] {
  return candidateEvents(snapshot, options).filter((e) => snapshot.can(e));
}

// The graph of one mode, through xstate/graph.

/** A path of the graph replayed on the machine: its events and the snapshot after each. */
export interface GraphPath {
  readonly events: readonly ModelEvent[];
  /** The snapshot after each event (the initial snapshot first). */
  readonly snapshots: readonly ModelSnapshot[];
}

/**
 * Shortest paths to every graph state of `mode`, the initial state's included. Only the events are
 * taken from xstate/graph: where several snapshots share one graph state, the snapshots it stores in
 * a path's steps are not always the ones its events lead to (it keeps the last one seen), so the
 * events are replayed here; the replay must be enabled at every step and end in the same graph state.
 */
export function shortestGraphPaths(mode: Mode): GraphPath[] {
  const model = createTestModel(relationshipMachine, {
    input: { sourceId: PATH_SOURCE_ID, mode },
    events: (s) => candidateEvents(s as ModelSnapshot),
    filterEvents: (s, e) => graphExplores(s as ModelSnapshot, e as ModelEvent) && s.can(e),
    serializeState: (s) => serializeState(s as ModelSnapshot),
    serializeEvent: (e) => describeEvent(e as ModelEvent),
  });
  const initial = initialTransition(relationshipMachine, { sourceId: PATH_SOURCE_ID, mode })[0];
  const replay = prefixReplayer(initial);
  return model.getShortestPaths({ allowDuplicatePaths: true }).map((p) => {
    const target = serializeState(p.state as ModelSnapshot);
    const replayed = replay(p.steps.slice(1).map((s) => s.event as ModelEvent));
    const reached = serializeState(replayed.snapshots.at(-1)!);
    if (reached !== target) throw new Error(`graph path to ${target} replays to ${reached}`);
    return replayed;
  });
}

/**
 * Replays event sequences from `initial`, remembering every prefix: shortest paths share their
 * prefixes (a path is its parent's path plus one event), so each step is computed once.
 */
function prefixReplayer(initial: ModelSnapshot): (events: readonly ModelEvent[]) => GraphPath {
  const seen = new Map<string, ModelSnapshot>([['', initial]]);
  return (events) => {
    const snapshots = [initial];
    let key = '';
    for (const event of events) {
      const current = snapshots.at(-1)!;
      key = `${key}|${describeEvent(event)}`;
      let next = seen.get(key);
      if (next === undefined) {
        if (!current.can(event))
          throw new Error(`graph path: ${describeEvent(event)} is not enabled on replay`);
        next = nextSnapshot(current, event);
        seen.set(key, next);
      }
      snapshots.push(next);
    }
    return { events, snapshots };
  };
}

const lastOf = (path: GraphPath): ModelSnapshot => path.snapshots.at(-1)!;

function plainSteps(path: GraphPath): PathStep[] {
  return path.events.map((event, i) => ({
    event,
    family: familyOf(event),
    expected: expectedOf(path.snapshots[i + 1]!),
  }));
}

/** Drop paths that are a prefix of another: running the longer one reaches the same states. */
function withoutPrefixes(paths: readonly ModelPath[]): ModelPath[] {
  const key = (steps: readonly PathStep[]) => steps.map((s) => describeEvent(s.event)).join(' ');
  const prefixes = new Set<string>();
  const kept: ModelPath[] = [];
  for (const p of [...paths].sort((a, b) => b.steps.length - a.steps.length)) {
    if (prefixes.has(key(p.steps))) continue;
    kept.push(p);
    for (let n = 0; n <= p.steps.length; n++) prefixes.add(key(p.steps.slice(0, n)));
  }
  return kept;
}

/** The shortest path to a state where each transition fires, plus the event that fires it. */
function transitionCover(mode: Mode, graph: readonly GraphPath[]): ModelPath[] {
  const best = new Map<string, { path: GraphPath; event: ModelEvent }>();
  const byLength = [...graph].sort((a, b) => a.events.length - b.events.length);
  for (const path of byLength) {
    const state = lastOf(path);
    for (const event of enabledEvents(state).filter((e) => graphExplores(state, e))) {
      for (const t of relationshipMachine.getTransitionData(state, event)) {
        const id = transitionIdOf(t);
        if (!best.has(id)) best.set(id, { path, event });
      }
    }
  }
  return [...best.entries()].map(([id, { path, event }]) => {
    const after = nextSnapshot(lastOf(path), event);
    const last: PathStep = { event, family: familyOf(event), expected: expectedOf(after) };
    return { mode, purpose: 'transition', target: id, steps: [...plainSteps(path), last] };
  });
}

export interface ModeGraph {
  readonly mode: Mode;
  /** Graph states (serializeState) reached. */
  readonly stateCount: number;
  readonly statePaths: readonly ModelPath[];
  readonly transitionPaths: readonly ModelPath[];
}

export function modeGraph(mode: Mode): ModeGraph {
  const graph = shortestGraphPaths(mode);
  const all: ModelPath[] = graph.map((p) => ({
    mode,
    purpose: 'state',
    target: serializeState(lastOf(p)),
    steps: plainSteps(p),
  }));
  return {
    mode,
    stateCount: graph.length,
    statePaths: withoutPrefixes(all),
    transitionPaths: transitionCover(mode, graph),
  };
}

/**
 * Every generated path for every mode: shortest paths to every graph state (prefixes of longer
 * paths dropped), then the transition cover. Deterministic: same machine, same paths.
 */
export function generateModelPaths(modes: readonly Mode[] = MODES): ModelPath[] {
  return modes.flatMap((mode) => {
    const g = modeGraph(mode);
    return [...g.statePaths, ...g.transitionPaths];
  });
}
