// The refinement mapping on observation sequences shaped like the reference target's
// (docs/reference-protocol.md): events derived from observation diffs, stepped in lockstep, compared.

import { describe, expect, it } from 'vitest';
import type { SourceObservation } from '../harness/target.ts';
import type { Mode, ModelEvent } from './events.ts';
import { initialModelState, type ModelState, stepAll, stepObserved } from './lockstep.ts';
import { type AckEffect, compare, expectedControl, observationEvents } from './refinement.ts';

const OBS: SourceObservation = {
  up: true,
  relationship: 'in-sync',
  primaryCp: 0,
  mirrorCp: 0,
  cpInProgress: false,
  pendingWrites: 0,
};
const obs = (o: Partial<SourceObservation>): SourceObservation => ({ ...OBS, ...o });
const ack = (writeId: number, ok = true): AckEffect => ({ kind: 'ack', node: 'src0', writeId, ok });
const types = (events: readonly { type: string }[]) => events.map((e) => e.type);

function model(mode: Mode, events: readonly ModelEvent[] = []): ModelState {
  const out = stepAll(initialModelState({ sourceId: 'src0', mode }), events);
  if (!out.ok) throw new Error(out.reason);
  return out.state;
}

/** One lockstep observation step: events from the diff, an enabled interleaving, then the comparison. */
function observe(
  state: ModelState,
  prev: SourceObservation,
  next: SourceObservation,
  acks: AckEffect[] = [],
) {
  const events = observationEvents(prev, next, acks);
  const out = stepObserved(state, events);
  if (!out.ok) return { events, ok: false as const, reason: out.reason };
  return {
    events,
    ok: true as const,
    state: out.state,
    order: out.order,
    mismatches: compare(out.state.snapshot, next, true),
  };
}

describe('observation events', () => {
  it('an in-sync CP: the root first, then the mirror and the completion', () => {
    let s = model('sync');
    const started = observe(s, OBS, obs({ primaryCp: 1, cpInProgress: true }));
    expect(types(started.events)).toEqual(['CP_STARTED', 'PRIMARY_CP_COMMITTED']);
    if (!started.ok) throw new Error(started.reason);
    expect(started.mismatches).toEqual([]);
    s = started.state;
    const done = observe(s, obs({ primaryCp: 1, cpInProgress: true }), obs({ primaryCp: 1, mirrorCp: 1 }));
    expect(types(done.events)).toEqual(['MIRROR_CP_COMMITTED', 'CP_COMPLETED']);
    expect(done.ok && done.mismatches).toEqual([]);
  });

  it('a lost link: out of sync, the awaited CP completes, the waiting sync write is acknowledged', () => {
    const s = model('sync', [
      { type: 'CP_STARTED' },
      { type: 'PRIMARY_CP_COMMITTED', cp: 1 },
      { type: 'PARTITION' },
      { type: 'WRITE', lba: 0, writeId: 1 },
    ]);
    const prev = obs({ primaryCp: 1, cpInProgress: true, pendingWrites: 1 });
    const out = observe(s, prev, obs({ relationship: 'out-of-sync', primaryCp: 1 }), [ack(1)]);
    expect(types(out.events)).toEqual(['CP_COMPLETED', 'REL_OUT_OF_SYNC', 'WRITE_ACKED']);
    if (!out.ok) throw new Error(out.reason);
    // Completing in sync without the mirror's confirm is refused: only after going out of sync.
    expect(types(out.order)).toEqual(['REL_OUT_OF_SYNC', 'CP_COMPLETED', 'WRITE_ACKED']);
    expect(out.mismatches).toEqual([]);
  });

  it('a lost confirm: the awaited CP completes out of sync and the next CP is local', () => {
    const s = model('sync', [
      { type: 'CP_STARTED' },
      { type: 'PRIMARY_CP_COMMITTED', cp: 1 },
      { type: 'PARTITION' },
    ]);
    const prev = obs({ primaryCp: 1, cpInProgress: true });
    const out = observe(s, prev, obs({ relationship: 'out-of-sync', primaryCp: 2 }));
    // The observation reads as CP 2's root; the model knows CP 1's root was written, so CP 1 completed
    // (out of sync, once the confirm was lost) and CP 2 started: both implied, both checked.
    expect(types(out.events)).toEqual(['PRIMARY_CP_COMMITTED', 'CP_COMPLETED', 'REL_OUT_OF_SYNC']);
    expect(out.ok && types(out.order)).toEqual([
      'REL_OUT_OF_SYNC',
      'CP_COMPLETED',
      'CP_STARTED',
      'PRIMARY_CP_COMMITTED',
      'CP_COMPLETED',
    ]);
  });

  it('in sync: the confirm completes CP 1 and CP 2 starts in the same step', () => {
    const s = model('sync', [
      { type: 'CP_STARTED' },
      { type: 'PRIMARY_CP_COMMITTED', cp: 1 },
      { type: 'MIRROR_CP_COMMITTED', cp: 1 },
    ]);
    const prev = obs({ primaryCp: 1, mirrorCp: 1, cpInProgress: true });
    const out = observe(s, prev, obs({ primaryCp: 2, mirrorCp: 1, cpInProgress: true }));
    expect(out.ok && types(out.order)).toEqual(['CP_COMPLETED', 'CP_STARTED', 'PRIMARY_CP_COMMITTED']);
    // Without the mirror's confirm the implied completion is refused, and so is the step.
    const unconfirmed = model('sync', [{ type: 'CP_STARTED' }, { type: 'PRIMARY_CP_COMMITTED', cp: 1 }]);
    expect(
      observe(
        unconfirmed,
        obs({ primaryCp: 1, cpInProgress: true }),
        obs({ primaryCp: 2, cpInProgress: true }),
      ).ok,
    ).toBe(false);
  });

  it('strict-sync: an ack and the loss of the link in one step, in the only order that is allowed', () => {
    const s = model('strict-sync', [{ type: 'WRITE', lba: 0, writeId: 1 }]);
    const out = observe(s, obs({ pendingWrites: 1 }), obs({ relationship: 'out-of-sync' }), [ack(1)]);
    expect(out.ok && types(out.order)).toEqual(['WRITE_ACKED', 'REL_OUT_OF_SYNC']);
  });

  it('a resync: two local CPs and the transfer, then the confirm brings the mirror up and in sync', () => {
    const history: ModelEvent[] = [{ type: 'PARTITION' }, { type: 'REL_OUT_OF_SYNC' }];
    for (const cp of [1, 2])
      history.push({ type: 'CP_STARTED' }, { type: 'PRIMARY_CP_COMMITTED', cp }, { type: 'CP_COMPLETED' });
    history.push({ type: 'HEAL' });
    const prev = obs({ relationship: 'out-of-sync', primaryCp: 2 });
    const hello = observe(
      model('sync', history),
      prev,
      obs({ relationship: 'resyncing', primaryCp: 4, cpInProgress: true }),
    );
    // Two CPs in one step read as one commit of the higher number (CP numbers may have gaps).
    expect(types(hello.events)).toEqual(['CP_STARTED', 'PRIMARY_CP_COMMITTED', 'REL_RESYNCING']);
    if (!hello.ok) throw new Error(hello.reason);
    const confirm = observe(
      hello.state,
      obs({ relationship: 'resyncing', primaryCp: 4, cpInProgress: true }),
      obs({ primaryCp: 4, mirrorCp: 4 }),
    );
    expect(types(confirm.events)).toEqual(['MIRROR_CP_COMMITTED', 'CP_COMPLETED', 'REL_IN_SYNC']);
    expect(confirm.ok && confirm.mismatches).toEqual([]);
  });

  it('an excursion inside one step (rule O5): shown as a path, judged at every state of it', () => {
    // The link was down long enough to time out and is back: in one tick the strict-sync source goes
    // out of sync, fails its waiting write, resyncs (nothing differs) and is in sync again.
    const s = model('strict-sync', [
      { type: 'PARTITION' },
      { type: 'WRITE', lba: 0, writeId: 1 },
      { type: 'HEAL' },
    ]);
    const prev = obs({ pendingWrites: 1 });
    const path = ['out-of-sync', 'resyncing', 'in-sync'] as const;
    const shown = observe(s, prev, obs({ relationshipPath: path }), [ack(1, false)]);
    expect(types(shown.events)).toEqual(['REL_OUT_OF_SYNC', 'REL_RESYNCING', 'REL_IN_SYNC', 'WRITE_FAILED']);
    if (!shown.ok) throw new Error(shown.reason);
    // The first order enabled: a strict-sync write fails out of sync or resyncing, never in sync.
    expect(types(shown.order)).toEqual(['REL_OUT_OF_SYNC', 'REL_RESYNCING', 'WRITE_FAILED', 'REL_IN_SYNC']);
    expect(shown.mismatches).toEqual([]);
    // The same step without the path reads as a strict-sync write failed in sync: refused.
    const hidden = observe(s, prev, obs({}), [ack(1, false)]);
    expect(types(hidden.events)).toEqual(['WRITE_FAILED']);
    expect(hidden.ok).toBe(false);
  });

  it('a restart with its recovery CP; a down source reads as out of sync', () => {
    const s = model('semi-sync', [{ type: 'CRASH_SOURCE' }, { type: 'RESTART_SOURCE' }]);
    const down = obs({ up: false, relationship: 'out-of-sync' });
    const out = observe(s, down, obs({ relationship: 'out-of-sync', primaryCp: 1 }));
    expect(types(out.events)).toEqual(['CP_STARTED', 'PRIMARY_CP_COMMITTED', 'CP_COMPLETED']);
    expect(out.ok && out.mismatches).toEqual([]);
  });

  it('a failover: the promoted volume commits a CP of its own and the relationship is over', () => {
    const s = model('sync', [{ type: 'CRASH_SOURCE' }, { type: 'FAILOVER' }]);
    const down = obs({ up: false, relationship: 'out-of-sync' });
    const out = observe(s, down, obs({ up: false, relationship: 'failed-over', mirrorCp: 1 }));
    expect(types(out.events)).toEqual(['MIRROR_CP_COMMITTED', 'REL_FAILED_OVER']);
    expect(out.ok && out.mismatches).toEqual([]);
  });
});

describe('misbehaviour caught in lockstep', () => {
  it('a strict-sync ack long after the relationship went out of sync', () => {
    const s = model('strict-sync', [
      { type: 'PARTITION' },
      { type: 'WRITE', lba: 0, writeId: 1 },
      { type: 'REL_OUT_OF_SYNC' },
    ]);
    const out = observe(
      s,
      obs({ relationship: 'out-of-sync', pendingWrites: 1 }),
      obs({ relationship: 'out-of-sync' }),
      [ack(1)],
    );
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.reason).toMatch(/WRITE_ACKED\(writeId=1\) is not enabled \(strict-sync\)/);
  });

  it('a mirror CP ahead of the primary', () => {
    const out = observe(model('sync'), OBS, obs({ mirrorCp: 1 }));
    expect(out.ok).toBe(false);
  });

  it('in sync while the link is down', () => {
    const s = model('sync', [{ type: 'PARTITION' }, { type: 'REL_OUT_OF_SYNC' }]);
    const out = observe(s, obs({ relationship: 'out-of-sync' }), OBS);
    expect(out.ok).toBe(false);
  });

  it('a CP completed in sync without the mirror', () => {
    const s = model('sync');
    const out = observe(s, OBS, obs({ primaryCp: 1 }));
    expect(types(out.events)).toEqual(['CP_STARTED', 'PRIMARY_CP_COMMITTED', 'CP_COMPLETED']);
    expect(out.ok).toBe(false);
  });
});

describe('comparison', () => {
  it('says which region or counter differs', () => {
    const s = model('sync', [{ type: 'WRITE', lba: 0, writeId: 1 }, { type: 'REL_OUT_OF_SYNC' }]);
    expect(compare(s.snapshot, obs({ relationship: 'out-of-sync', pendingWrites: 1 }), true)).toEqual([]);
    const mismatches = compare(
      s.snapshot,
      obs({ primaryCp: 2, pendingWrites: 0, cpInProgress: true }),
      false,
    );
    expect(mismatches).toEqual([
      'source: the target shows what the model calls serving.cp.frozen or serving.cp.flushing or serving.cp.cpSync or serving.cp.committing; the model is in serving.idle',
      'destination: the target shows what the model calls crashed; the model is in up',
      'relationship: the target shows what the model calls inSync; the model is in outOfSync',
      'primaryCp: the target shows 2, the model holds 0',
      'pendingWrites: the target shows 0, the model holds 1',
    ]);
  });

  it('allows several model states where a target shows less', () => {
    expect(expectedControl(obs({ cpInProgress: true }), true).source).toHaveLength(4);
    expect(expectedControl(OBS, true).source).toEqual(['serving.idle', 'recovering']);
    expect(expectedControl(OBS, true).destination).toEqual(['up', 'applyingCpSync']);
    expect(expectedControl(obs({ up: false }), true).relationship).toEqual([]);
  });
});
