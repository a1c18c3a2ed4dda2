// The protocol's obligations a target must meet, judged from what the harness itself knows: the
// writes it issued and when, the answers it saw, the messages it carried (numbered, never decoded:
// harness/causality.ts), the faults it injected. Each names the rule of harness/target.ts it checks.
// A target cannot pass these by reporting a convenient state: none reads what it says of itself,
// except the relationship state, and rule L1 holds that to the faults the harness injected.

import type { History } from '../harness/history.ts';
import {
  answerDeadlineTicks,
  DESTINATION,
  type NodeId,
  queuedDeadlineTicks,
  type RelationshipState,
  relationshipsOfStep,
} from '../harness/target.ts';
import type { WriteRecord } from '../harness/world.ts';
import type { Property } from './properties.ts';

const modeOf = (h: History, id: NodeId) => h.world.spec.sources.find((s) => s.id === id)!.mode;
/** The relationship states source `id` passed through in this step (rule O5). */
const stepPath = (h: History, id: NodeId): RelationshipState[] =>
  relationshipsOfStep(h.before.sources[id]!, h.after.sources[id]!);
const inSyncThroughout = (h: History, id: NodeId) => stepPath(h, id).every((r) => r === 'in-sync');
/** The state the step left for out of sync from, if it went out of sync (rule O5: at any move). */
const leftForOutOfSync = (h: History, id: NodeId): RelationshipState | undefined => {
  const path = stepPath(h, id);
  for (let i = 1; i < path.length; i++)
    if (path[i] === 'out-of-sync' && (path[i - 1] === 'in-sync' || path[i - 1] === 'resyncing'))
      return path[i - 1];
  return undefined;
};

/** Per-run bookkeeping a property keeps in the History. */
function scratch<T>(h: History, name: string, make: () => T): T {
  let s = h.scratch.get(name) as T | undefined;
  if (s === undefined) {
    s = make();
    h.scratch.set(name, s);
  }
  return s;
}

/** A1: a sync or strict-sync write acknowledged in sync had its round trip to the destination. */
const syncAckAfterRoundTrip: Property = {
  name: 'sync-ack-after-round-trip',
  kind: 'always',
  description:
    'in sync, a sync or strict-sync write is acknowledged only after the destination answered a message sent after it',
  check(h) {
    for (const a of h.acks) {
      if (!a.ok || a.byWorld || modeOf(h, a.source) === 'semi-sync' || !inSyncThroughout(h, a.source))
        continue;
      const w = h.world.writeRecord(a.writeId)!;
      if (w.servedBy === DESTINATION) continue;
      if (h.world.causality.confirmedTo(a.source) <= w.sendsAtIssue)
        return `${a.source}: write ${a.writeId} acknowledged in sync (${modeOf(h, a.source)}) with no message from the destination sent after it heard of the write`;
    }
    return null;
  },
};

/** A3: in sync, at most semiSyncMaxLagEntries acknowledged semi-sync writes await the destination. */
const semiSyncLagBounded: Property = {
  name: 'semi-sync-lag-bounded',
  kind: 'always',
  description: `semi-sync: in sync, at most semiSyncMaxLagEntries acknowledged writes have had no round trip to the destination`,
  check(h) {
    const unconfirmed = scratch(h, 'semi-sync-lag', () => new Map<NodeId, WriteRecord[]>());
    const max = h.world.spec.semiSyncMaxLagEntries;
    for (const a of h.acks) {
      // Writes acknowledged while not in sync may lag without bound (their entries follow a resync).
      if (!a.ok || a.byWorld || modeOf(h, a.source) !== 'semi-sync' || !inSyncThroughout(h, a.source))
        continue;
      const w = h.world.writeRecord(a.writeId)!;
      if (w.servedBy === DESTINATION) continue;
      const list = unconfirmed.get(a.source) ?? [];
      list.push(w);
      unconfirmed.set(a.source, list);
    }
    for (const [source, list] of unconfirmed) {
      const confirmed = h.world.causality.confirmedTo(source);
      const open = list.filter((w) => w.sendsAtIssue >= confirmed);
      unconfirmed.set(source, open);
      if (!h.after.sources[source]!.up) unconfirmed.set(source, []);
      else if (inSyncThroughout(h, source) && open.length > max)
        return `${source}: ${open.length} semi-sync writes acknowledged in sync and not yet answered for by the destination (at most ${max}): ${open.map((w) => w.writeId).join(', ')}`;
      const peak = scratch(h, 'semi-sync-lag-peak', () => ({ n: 0 }));
      if (inSyncThroughout(h, source)) peak.n = Math.max(peak.n, open.length);
    }
    return null;
  },
};

/** A4: every write to a server that stays up is answered within the deadline. */
const writesAnsweredInTime: Property = {
  name: 'writes-answered-in-time',
  kind: 'always',
  description: 'every write to a server that stays up is acknowledged or failed within answerDeadlineTicks',
  check(h) {
    const base = answerDeadlineTicks(h.world.spec);
    const state = scratch(h, 'answer-deadline', () => ({ from: 0 }));
    const writes = h.world.writes;
    while (state.from < writes.length && writes[state.from]!.outcome) state.from++;
    for (let i = state.from; i < writes.length; i++) {
      const w = writes[i]!;
      if (w.outcome) continue;
      // In the server's own ticks: a paused or slow server is given fewer (rule A4).
      const waited = h.world.localTick(w.servedBy ?? w.source) - w.issuedLocalTick;
      if (waited <= base) continue;
      // Writes queued ahead of it (back-pressure) drain one NVLOG half per CP.
      let ahead = 0;
      for (let j = 0; j < i; j++) {
        const x = writes[j]!;
        if (x.servedBy === w.servedBy && (!x.outcome || x.outcome.tick >= w.issuedTick)) ahead++;
      }
      const deadline = queuedDeadlineTicks(h.world.spec, w.source, ahead);
      if (waited <= deadline) continue;
      return `${w.servedBy ?? w.source}: write ${w.writeId} (lba ${w.lba}) unanswered after ${waited} ticks, with ${ahead} writes queued ahead of it (deadline ${deadline}, rule A4)`;
    }
    return null;
  },
};

/** L1: a source leaves in sync (or resyncing) for out of sync only after a fault the harness injected. */
const outOfSyncOnlyAfterAFault: Property = {
  name: 'out-of-sync-only-after-a-fault',
  kind: 'always',
  description:
    'a source goes out of sync only within 2 * ackTimeoutTicks of a link fault or a destination power event',
  check(h) {
    const window = 2 * h.world.spec.ackTimeoutTicks + 1;
    for (const s of h.world.spec.sources) {
      const b = h.before.sources[s.id]!;
      const a = h.after.sources[s.id]!;
      // A lost mirror (D5) confirms no CP again: leaving in sync is then always a fault's doing.
      if (!b.up || !a.up || h.world.lostMirrors.has(s.id)) continue;
      const from = leftForOutOfSync(h, s.id);
      if (from === undefined) continue;
      const lastFault = Math.max(
        h.world.network.lastFaultTick(s.id, DESTINATION),
        h.world.powerEventTick.get(DESTINATION) ?? Number.NEGATIVE_INFINITY,
        h.world.powerEventTick.get(s.id) ?? Number.NEGATIVE_INFINITY,
        // A paused destination answers nothing; a paused source finds its requests unanswered.
        h.world.pauseEventTick.get(DESTINATION) ?? Number.NEGATIVE_INFINITY,
        h.world.pauseEventTick.get(s.id) ?? Number.NEGATIVE_INFINITY,
        // A destination down or paused now, or since the window began, answers nothing.
        h.after.destinationUp && !h.world.isPaused(DESTINATION) ? Number.NEGATIVE_INFINITY : h.world.now,
      );
      // The source times out on its own clock: the window is counted in the ticks it was given.
      const since = Number.isFinite(lastFault)
        ? h.world.localTick(s.id) - h.world.localTickAt(s.id, lastFault)
        : Number.POSITIVE_INFINITY;
      if (since > window)
        return `${s.id}: went out of sync (was ${from}) at tick ${h.world.now}, but the link and the destination had no fault since tick ${Number.isFinite(lastFault) ? lastFault : 'the start'} (window ${window} ticks)`;
    }
    return null;
  },
};

/**
 * R1: within RAID tolerance, a read by a server that is up succeeds. A source whose primary went past
 * its tolerance (D4) may refuse every read; what it does return is judged by raid-never-returns-wrong-data.
 */
const readsSucceedWithinTolerance: Property = {
  name: 'reads-succeed-within-tolerance',
  kind: 'always',
  description: 'within RAID fault tolerance every read a running server answers succeeds',
  check(h) {
    if (h.action?.kind !== 'read') return null;
    const r = h.world.reads[h.world.reads.length - 1]!;
    if (r.result.ok || r.byWorld) return null;
    if (h.world.lostVolumes.has(r.source) && h.after.sources[r.source]?.relationship !== 'failed-over')
      return null;
    return `${r.source} lba ${r.lba}: the read failed (${r.result.error}) while every RAID group was within its fault tolerance`;
  },
};

/** R2: a request for an LBA outside the volume is refused with an error, within A4's deadline. */
const outOfRangeRefused: Property = {
  name: 'out-of-range-requests-refused',
  kind: 'always',
  description:
    'a read or write of an LBA outside the volume is refused with an error (a write within answerDeadlineTicks), never served',
  check(h) {
    const deadline = answerDeadlineTicks(h.world.spec);
    for (const r of h.world.outOfRange) {
      const what = `${r.servedBy}: a ${r.op} of LBA ${r.lba} (${r.source}'s volume has ${h.lbas(r.source)})`;
      if (r.outcome?.ok)
        return `${what} was ${r.op === 'read' ? 'answered with data' : 'acknowledged'}, not refused (rule R2)`;
      const waited = h.world.localTick(r.servedBy) - r.issuedLocalTick;
      if (!r.outcome && waited > deadline)
        return `${what} unanswered after ${waited} ticks (deadline ${deadline}, rule R2)`;
    }
    return null;
  },
};

// sometimes ------------------------------------------------------------------------------------------

/** A server that was up refused a request of `op` for an LBA outside the volume (rule R2). */
const outOfRangeRefusedBy = (op: 'read' | 'write'): Property => ({
  name: `out-of-range-${op}-refused`,
  kind: 'sometimes',
  description: `a server that was up refused a ${op} of an LBA outside the volume`,
  partnerOf: ['out-of-range-requests-refused'],
  check: (h) => h.world.outOfRange.some((r) => r.op === op && r.outcome?.ok === false && !r.outcome.byWorld),
});

const syncAckedInSync: Property = {
  name: 'sync-write-acked-in-sync',
  kind: 'sometimes',
  description: 'a sync or strict-sync write was acknowledged in sync',
  partnerOf: ['sync-ack-after-round-trip'],
  check: (h) =>
    h.acks.some(
      (a) => a.ok && !a.byWorld && modeOf(h, a.source) !== 'semi-sync' && inSyncThroughout(h, a.source),
    ),
};

const semiSyncAtLagBound: Property = {
  name: 'semi-sync-lag-reached-bound',
  kind: 'sometimes',
  description: 'semi-sync: as many acknowledged writes awaited the destination as the bound allows',
  partnerOf: ['semi-sync-lag-bounded'],
  check: (h) =>
    ((h.scratch.get('semi-sync-lag-peak') as { n: number } | undefined)?.n ?? 0) >=
    h.world.spec.semiSyncMaxLagEntries,
};

const writeWaitedPastTimeout: Property = {
  name: 'write-answered-after-timeout',
  kind: 'sometimes',
  description: 'a write was answered only after waiting ackTimeoutTicks or longer',
  partnerOf: ['writes-answered-in-time'],
  check: (h) =>
    h.acks.some((a) => {
      const w = h.world.writeRecord(a.writeId)!;
      return !a.byWorld && h.world.now - w.issuedTick >= h.world.spec.ackTimeoutTicks;
    }),
};

const wentOutOfSync: Property = {
  name: 'went-out-of-sync',
  kind: 'sometimes',
  description: 'a running source went from in sync to out of sync',
  partnerOf: ['out-of-sync-only-after-a-fault'],
  check: (h) =>
    h.world.spec.sources.some(
      (s) =>
        h.before.sources[s.id]!.up && h.after.sources[s.id]!.up && leftForOutOfSync(h, s.id) === 'in-sync',
    ),
};

/** The model's CP milestones (harness/model_checker.ts keeps them in the History). */
function cpMilestone(h: History, key: 'cpStartedByTimer' | 'halfFilled' | 'writesStalled'): boolean {
  const m = h.scratch.get('cp-milestones') as Record<string, boolean> | undefined;
  return m?.[key] === true;
}

const cpStartedByTimer: Property = {
  name: 'cp-started-by-timer',
  kind: 'sometimes',
  description:
    'a CP started when the timer was due, with writes logged since the last one (model in lockstep)',
  partnerOf: ['cp-starts-on-time', 'cp-image-holds-accepted-writes'],
  check: (h) => cpMilestone(h, 'cpStartedByTimer'),
};

const nvlogHalfFilled: Property = {
  name: 'nvlog-half-filled',
  kind: 'sometimes',
  description: 'the active NVLOG half filled (model in lockstep)',
  partnerOf: ['cp-starts-when-nvlog-half-fills', 'cp-image-holds-accepted-writes'],
  check: (h) => cpMilestone(h, 'halfFilled'),
};

const writesStalled: Property = {
  name: 'writes-stalled-behind-full-nvlog',
  kind: 'sometimes',
  description: 'writes stalled: the active NVLOG half full while a CP was in progress (model in lockstep)',
  partnerOf: ['writes-stall-while-nvlog-full'],
  check: (h) => cpMilestone(h, 'writesStalled'),
};

export const OBLIGATIONS: readonly Property[] = [
  syncAckAfterRoundTrip,
  semiSyncLagBounded,
  writesAnsweredInTime,
  outOfSyncOnlyAfterAFault,
  readsSucceedWithinTolerance,
  outOfRangeRefused,
  syncAckedInSync,
  semiSyncAtLagBound,
  writeWaitedPastTimeout,
  wentOutOfSync,
  cpStartedByTimer,
  nvlogHalfFilled,
  writesStalled,
  outOfRangeRefusedBy('read'),
  outOfRangeRefusedBy('write'),
];
