// The statechart model stepped in lockstep with a target: one model per relationship (source). Before
// an action, the model says whether its environment event is enabled (schedules only contain what the
// model enables); after it, the observation events the target showed must be enabled too, and the
// target's observed state must be one the model allows (the refinement mapping).

import { checkLogFile, checkRead, recordPromotedImage } from '../model/abstract_data.ts';
import { type CpMilestones, cpObligations, type Finding } from '../model/cp_obligations.ts';
import type { EnvironmentEvent, ModelEvent, Side } from '../model/events.ts';
import {
  beginModelStep,
  enabledIn,
  initialModelState,
  type ModelState,
  type StepFacts,
  step,
  stepObserved,
} from '../model/lockstep.ts';
import { brokenAlways } from '../model/properties.ts';
import { type AckEffect, compare, observationEvents } from '../model/refinement.ts';
import type { ModelSnapshot } from '../model/statechart.ts';
import type { History } from './history.ts';
import type { LockstepChecker } from './runner.ts';
import type { NodeId } from './target.ts';
import { burstLbas, type WorldAction, writesIssuedBy } from './world.ts';

/** The CP milestones the model saw in this run, kept in the History for the `sometimes` partners. */
export function cpMilestonesOf(h: History): CpMilestones {
  let m = h.scratch.get('cp-milestones') as CpMilestones | undefined;
  if (m === undefined) {
    m = { cpStartedByTimer: false, halfFilled: false, writesStalled: false };
    h.scratch.set('cp-milestones', m);
  }
  return m;
}

/**
 * Told of the events the model took in one relationship, in the order it took them, and the
 * snapshot it took them from (harness/campaign_coverage.ts replays them to see what was visited).
 */
export type ModelEventsObserver = (
  source: NodeId,
  from: ModelSnapshot,
  events: readonly ModelEvent[],
) => void;

export function modelCheckers(onEvents?: ModelEventsObserver): LockstepChecker[] {
  return [new ModelChecker(onEvents)];
}

export class ModelChecker implements LockstepChecker {
  readonly name = 'model-refinement';
  private models: Map<NodeId, ModelState> | null = null;

  constructor(private readonly onEvents?: ModelEventsObserver) {}

  /** The lockstep model of one relationship, once stepped: a path driver compares it with the path. */
  modelOf(source: NodeId): ModelState | undefined {
    return this.models?.get(source);
  }

  enabled(action: WorldAction, h: History): boolean {
    const models = this.init(h);
    for (const [source, event] of environmentEvents(action, h, h.world.writes.length + 1)) {
      const m = models.get(source);
      if (m && !enabledIn(m.snapshot, event)) return false;
    }
    return true;
  }

  afterStep(h: History): string | Finding | null {
    const models = this.init(h);
    const action = h.action!;
    // The CP rules count in the source's own ticks (a paused or slow source gets fewer).
    for (const [source, m] of models) models.set(source, beginModelStep(m, h.world.localTick(source)));
    const before = new Map(models);
    // Environment events that happen when the action runs; a power cut is fed when it is seen.
    // The action's writes are the last it issued: their ids start here.
    const firstWriteId = h.world.writes.length - writesIssuedBy(action) + 1;
    for (const [source, event] of environmentEvents(action, h, firstWriteId)) {
      if (event.type === 'CRASH_SOURCE' || event.type === 'CRASH_DEST') continue;
      const out = step(models.get(source)!, event);
      if (!out.ok) return `${source}: ${out.reason}`;
      if (out.violations.length > 0) return `${source}: ${out.violations[0]}`;
      this.onEvents?.(source, models.get(source)!.snapshot, [event]);
      models.set(source, out.state);
    }
    const repaired = this.repairs(h, models);
    if (repaired) return repaired;
    // A burst's writes arrive in one step: each WRITE the model takes would begin a step of its own,
    // so the step's start (what the CP rules count as "before this step") goes back to the first.
    if (action.kind === 'burst') {
      const m = models.get(action.source)!;
      models.set(action.source, { ...m, data: { ...m.data, clock: before.get(action.source)!.data.clock } });
    }
    for (const [source, model] of models) {
      const prev = h.before.sources[source]!;
      const next = h.after.sources[source]!;
      const acks =
        h.acks.length === 0
          ? NO_ACKS
          : h.acks
              // The world's answers for a server that lost power are not the target's: the model puts
              // the writes in doubt at the crash instead.
              .filter((a) => a.source === source && !a.byWorld)
              .map((a) => ({ kind: 'ack' as const, node: source, writeId: a.writeId, ok: a.ok }));
      const observed = stepObserved(model, observationEvents(prev, next, acks), this.facts(h, source));
      if (!observed.ok) return `${source}: ${observed.reason}`;
      if (observed.violations.length > 0) return `${source}: ${observed.violations[0]}`;
      if (observed.order.length > 0) this.onEvents?.(source, model.snapshot, observed.order);
      let state = observed.state;
      // The power cut, now that the step's events are in: the source's, then the destination's.
      if (prev.up && !next.up) {
        const out = step(state, CRASH_SOURCE);
        if (!out.ok) return `${source}: ${out.reason}`;
        this.onEvents?.(source, state.snapshot, [CRASH_SOURCE]);
        state = out.state;
      }
      if (h.before.destinationUp && !h.after.destinationUp) {
        const out = step(state, CRASH_DEST);
        if (!out.ok) return `${source}: ${out.reason}`;
        this.onEvents?.(source, state.snapshot, [CRASH_DEST]);
        state = out.state;
      }
      models.set(source, state);
      const mismatches = compare(state.snapshot, next, h.after.destinationUp);
      if (mismatches.length > 0) return `${source}: ${mismatches.join('; ')}`;
      const finding = this.cpRules(h, source, before.get(source)!, state, acks) ?? this.dataRules(h, source);
      if (finding) return { property: finding.property, message: `${source}: ${finding.message}` };
      const broken = brokenAlways(models.get(source)!);
      if (broken.length > 0) return `${source}: the model's own property broke: ${broken[0]}`;
    }
    return null;
  }

  /**
   * Faults the harness sees gone from its disks (a latent error's block rewritten, or counted in its
   * disk's failure since): each relationship's model counts them down with DISK_REPAIRED. A spare
   * still being rebuilt is not the model's to count (REPLACE_DISK already took its fault away).
   */
  private repairs(h: History, models: Map<NodeId, ModelState>): string | null {
    for (const [source, m] of models)
      for (const side of SIDES) {
        let extra = m.snapshot.context.faults[side].length;
        if (extra === 0) continue;
        const faults = h.world.diskFaults;
        for (const group of side === 'source' ? ['primary'] : [`mirror:${source}`, `log:${source}`])
          extra -= faults.inGroup(side === 'source' ? source : 'dst', group, false);
        const event: EnvironmentEvent = { type: 'DISK_REPAIRED', side };
        for (; extra > 0; extra--) {
          const out = step(models.get(source)!, event);
          if (!out.ok) return `${source}: ${out.reason}`;
          this.onEvents?.(source, models.get(source)!.snapshot, [event]);
          models.set(source, out.state);
        }
      }
    return null;
  }

  /**
   * The abstract data's oracles at the steps where what they judge can change: a read (checkRead), the
   * promotion first shown (recordPromotedImage: the promoted volume read by LBA), and the log file
   * (checkLogFile) whenever the mirror committed, the destination came back, or a write was answered.
   */
  private dataRules(h: History, source: NodeId): Finding | null {
    const model = this.models!.get(source)!;
    const a = h.action!;
    if (a.kind === 'read' && a.source === source) {
      const r = h.world.reads[h.world.reads.length - 1]!;
      if (r.result.ok) {
        const m = checkRead(model.data, a.lba, h.world.contents.classOf(r.result.data));
        if (m) return { property: 'reads-see-latest-acked', message: m };
      }
    }
    if (!h.after.destinationUp) return null;
    const prev = h.before.sources[source]!;
    const next = h.after.sources[source]!;
    if (next.relationship === 'failed-over' && prev.relationship !== 'failed-over') {
      const image = new Map<number, number>();
      for (let lba = 0; lba < h.lbas(source); lba++) {
        const r = h.instance.clientRead(source, lba);
        const id = r.ok ? h.world.contents.classOf(r.data) : -1;
        if (id !== 0) image.set(lba, id);
      }
      const out = recordPromotedImage(model.data, image);
      this.models!.set(source, { ...model, data: out.data });
      if (out.violation) return { property: 'no-acked-write-lost-after-failover', message: out.violation };
      return null;
    }
    const logDue =
      next.mirrorCp !== prev.mirrorCp ||
      !h.before.destinationUp ||
      // An acknowledgement the log file must now hold: sync and strict-sync only (semi-sync lags).
      (model.snapshot.context.mode !== 'semi-sync' &&
        h.acks.some((x) => x.source === source && x.ok && !x.byWorld));
    if (!logDue || next.relationship === 'failed-over') return null;
    const m = checkLogFile(model.data, source, h.instance.logFile(source), next.mirrorCp, (b) =>
      h.world.contents.classOf(b),
    );
    return m ? { property: 'log-file-holds-what-the-mirror-lacks', message: m } : null;
  }

  /** The CP rules (T1, T2, N1, N2) for one relationship's step; milestones go to the History. */
  private cpRules(
    h: History,
    source: NodeId,
    before: ModelState,
    after: ModelState,
    acks: readonly AckEffect[],
  ): Finding | null {
    const spec = h.world.spec.sources.find((s) => s.id === source)!;
    const committed = after.data.primaryImages.get(after.snapshot.context.primaryCp);
    const fresh =
      after.snapshot.context.primaryCp !== before.snapshot.context.primaryCp && committed !== undefined
        ? after.snapshot.context.primaryCp
        : null;
    const reached = cpMilestonesOf(h);
    return cpObligations(
      before,
      after,
      acks.map((a) => a.writeId),
      fresh,
      { cpIntervalTicks: h.world.spec.cpIntervalTicks, nvlogHalfEntries: spec.nvlogHalfEntries },
      reached,
    );
  }

  /** The images read in this step, for the step's CP events (none on a step without a CP change). */
  private facts(h: History, source: NodeId): StepFacts {
    const prev = h.before.sources[source]!;
    const next = h.after.sources[source]!;
    const primaryDue = next.primaryCp !== prev.primaryCp;
    const mirrorDue = next.mirrorCp !== prev.mirrorCp;
    if (!primaryDue && !mirrorDue) return NO_FACTS;
    const hist = h.source(source);
    const primary = primaryDue ? hist.primaryImages.get(next.primaryCp) : undefined;
    // Only an image read in this step is the new CP's: a destination that committed and lost power in
    // one step shows its image once it is back, and the model then takes the ideal one.
    const mirror = mirrorDue ? h.freshMirrorImage(source) : null;
    return {
      imagesRead: true,
      ...(primary !== undefined ? { primaryImage: toMap(primary) } : {}),
      ...(mirror ? { mirrorImage: toMap(mirror) } : {}),
    };
  }

  private init(h: History): Map<NodeId, ModelState> {
    if (this.models) return this.models;
    this.models = new Map(
      h.world.spec.sources.map((s) => [s.id, initialModelState({ sourceId: s.id, mode: s.mode })] as const),
    );
    return this.models;
  }
}

const NO_ACKS: readonly AckEffect[] = [];
const NO_FACTS: StepFacts = {};
const CRASH_SOURCE: EnvironmentEvent = { type: 'CRASH_SOURCE' };
const CRASH_DEST: EnvironmentEvent = { type: 'CRASH_DEST' };
const SIDES: readonly Side[] = ['source', 'destination'];

function sideOf(node: NodeId): Side {
  return node === 'dst' ? 'destination' : 'source';
}

/** The source whose relationship a disk group belongs to: 'primary' on a source, 'mirror:src0' on dst. */
function sourceOfGroup(node: NodeId, group: string): NodeId {
  return node === 'dst' ? group.slice(group.indexOf(':') + 1) : node;
}

/**
 * `event` for every relationship of the world. A function of its own, not a closure in
 * environmentEvents: under tsx each named closure costs a defineProperty each time it is created.
 */
function toAll(event: EnvironmentEvent, h: History): [NodeId, EnvironmentEvent][] {
  return h.world.spec.sources.map((s) => [s.id, event]);
}

/** The environment events an action is, per relationship it concerns. */
/** `writeId`: the id of the action's first write (a write's, or a burst's first). */
function environmentEvents(a: WorldAction, h: History, writeId: number): [NodeId, EnvironmentEvent][] {
  switch (a.kind) {
    case 'write':
      return [[a.source, writeEvent(h, a.lba, writeId)]];
    case 'burst':
      return burstLbas(a, h.lbas(a.source)).map((lba, i) => [a.source, writeEvent(h, lba, writeId + i)]);
    case 'read':
      return [[a.source, { type: 'READ', lba: a.lba }]];
    case 'tick':
      return toAll({ type: 'TICK' }, h);
    case 'partition':
      return [[a.source, { type: 'PARTITION' }]];
    case 'heal':
      return [[a.source, { type: 'HEAL' }]];
    case 'crash':
      return a.node === 'dst' ? toAll({ type: 'CRASH_DEST' }, h) : [[a.node, { type: 'CRASH_SOURCE' }]];
    case 'restart':
      return a.node === 'dst' ? toAll({ type: 'RESTART_DEST' }, h) : [[a.node, { type: 'RESTART_SOURCE' }]];
    case 'fail-disk':
      return a.beyond === true
        ? [[sourceOfGroup(a.node, a.group), { type: a.node === 'dst' ? 'MIRROR_LOST' : 'VOLUME_LOST' }]]
        : [[sourceOfGroup(a.node, a.group), { type: 'DISK_FAIL', side: sideOf(a.node) }]];
    case 'latent-error':
      return [[sourceOfGroup(a.node, a.group), { type: 'LATENT_ERROR', side: sideOf(a.node) }]];
    case 'replace-disk':
      return [[sourceOfGroup(a.node, a.group), { type: 'REPLACE_DISK', side: sideOf(a.node) }]];
    // What a scrub repairs the harness sees on its disks afterwards (DISK_REPAIRED).
    case 'scrub':
      return [];
    case 'failover':
      return [[a.source, { type: 'FAILOVER' }]];
    // Faults of single messages and a slow link: the model's link stays connected, and what they
    // allow a target (timeouts, out of sync) the model allows on any connected link.
    case 'message-fault':
    case 'slow':
    case 'speed-up':
    // A node paused or slow: the model has no clocks but the ticks its rules count (fed per source).
    case 'pause':
    case 'drift':
    // A request outside the volume is refused and changes nothing (rule R2, properties/obligations.ts).
    case 'out-of-range':
      return [];
  }
}

/** A WRITE, with its data's content class once the world made it and when it is not the write's own. */
function writeEvent(h: History, lba: number, writeId: number): EnvironmentEvent {
  const content = h.world.contents.classOfWrite(writeId);
  return content === undefined || content === writeId
    ? { type: 'WRITE', lba, writeId }
    : { type: 'WRITE', lba, writeId, content };
}

function toMap(image: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  image.forEach((writeId, lba) => {
    if (writeId !== 0) m.set(lba, writeId);
  });
  return m;
}
