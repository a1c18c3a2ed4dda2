// The statechart model stepped in lockstep with a target: one model per relationship (source). Before
// an action, the model says whether its environment event is enabled (schedules only contain what the
// model enables); after it, the observation events the target showed must be enabled too, and the
// target's observed state must be one the model allows (the refinement mapping).

import type { EnvironmentEvent, Side } from '../model/events.ts';
import {
  enabledIn,
  initialModelState,
  type ModelState,
  type StepFacts,
  step,
  stepObserved,
} from '../model/lockstep.ts';
import { type AckEffect, compare, observationEvents } from '../model/refinement.ts';
import type { History } from './history.ts';
import type { LockstepChecker } from './runner.ts';
import type { NodeId } from './target.ts';
import type { WorldAction } from './world.ts';

export function modelCheckers(): LockstepChecker[] {
  return [new ModelChecker()];
}

export class ModelChecker implements LockstepChecker {
  readonly name = 'model-refinement';
  private models: Map<NodeId, ModelState> | null = null;

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

  afterStep(h: History): string | null {
    const models = this.init(h);
    const action = h.action!;
    // Environment events that happen when the action runs; a power cut is fed when it is seen.
    for (const [source, event] of environmentEvents(action, h, h.world.writes.length)) {
      if (event.type === 'CRASH_SOURCE' || event.type === 'CRASH_DEST') continue;
      const out = step(models.get(source)!, event);
      if (!out.ok) return `${source}: ${out.reason}`;
      if (out.violations.length > 0) return `${source}: ${out.violations[0]}`;
      models.set(source, out.state);
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
      let state = observed.state;
      // The power cut, now that the step's events are in: the source's, then the destination's.
      if (prev.up && !next.up) {
        const out = step(state, CRASH_SOURCE);
        if (!out.ok) return `${source}: ${out.reason}`;
        state = out.state;
      }
      if (h.before.destinationUp && !h.after.destinationUp) {
        const out = step(state, CRASH_DEST);
        if (!out.ok) return `${source}: ${out.reason}`;
        state = out.state;
      }
      models.set(source, state);
      const mismatches = compare(state.snapshot, next, h.after.destinationUp);
      if (mismatches.length > 0) return `${source}: ${mismatches.join('; ')}`;
    }
    return null;
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

function sideOf(node: NodeId): Side {
  return node === 'dst' ? 'destination' : 'source';
}

/** The source whose relationship a disk group belongs to: 'primary' on a source, 'mirror:src0' on dst. */
function sourceOfGroup(node: NodeId, group: string): NodeId {
  return node === 'dst' ? group.slice(group.indexOf(':') + 1) : node;
}

/** The environment events an action is, per relationship it concerns. */
function environmentEvents(a: WorldAction, h: History, writeId: number): [NodeId, EnvironmentEvent][] {
  const all = (event: EnvironmentEvent): [NodeId, EnvironmentEvent][] =>
    h.world.spec.sources.map((s) => [s.id, event]);
  switch (a.kind) {
    case 'write':
      return [[a.source, { type: 'WRITE', lba: a.lba, writeId }]];
    case 'read':
      return [[a.source, { type: 'READ', lba: a.lba }]];
    case 'tick':
      return all({ type: 'TICK' });
    case 'partition':
      return [[a.source, { type: 'PARTITION' }]];
    case 'heal':
      return [[a.source, { type: 'HEAL' }]];
    case 'crash':
      return a.node === 'dst' ? all({ type: 'CRASH_DEST' }) : [[a.node, { type: 'CRASH_SOURCE' }]];
    case 'restart':
      return a.node === 'dst' ? all({ type: 'RESTART_DEST' }) : [[a.node, { type: 'RESTART_SOURCE' }]];
    case 'fail-disk':
      return [[sourceOfGroup(a.node, a.group), { type: 'DISK_FAIL', side: sideOf(a.node) }]];
    case 'latent-error':
      return [[sourceOfGroup(a.node, a.group), { type: 'LATENT_ERROR', side: sideOf(a.node) }]];
    case 'replace-disk':
      return [[sourceOfGroup(a.node, a.group), { type: 'REPLACE_DISK', side: sideOf(a.node) }]];
    case 'failover':
      return [[a.source, { type: 'FAILOVER' }]];
  }
}

function toMap(image: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  image.forEach((writeId, lba) => {
    if (writeId !== 0) m.set(lba, writeId);
  });
  return m;
}
