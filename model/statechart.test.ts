// The statechart refuses what the protocol forbids: each case reaches a state through enabled events,
// then offers an event the model must not enable (`can` is false, stepping changes nothing).

import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { describeEvent, type Mode, type ModelEvent } from './events.ts';
import { initialModelState, step, stepAll } from './lockstep.ts';
import { controlState, type ModelSnapshot, relationshipMachine } from './statechart.ts';

const W = (writeId: number, lba = 0): ModelEvent => ({ type: 'WRITE', lba, writeId });
const ACK = (writeId: number): ModelEvent => ({ type: 'WRITE_ACKED', writeId });
const FAIL = (writeId: number): ModelEvent => ({ type: 'WRITE_FAILED', writeId });
const PRIMARY = (cp: number): ModelEvent => ({ type: 'PRIMARY_CP_COMMITTED', cp });
const MIRROR = (cp: number): ModelEvent => ({ type: 'MIRROR_CP_COMMITTED', cp });
const E = (
  type:
    | 'TICK'
    | 'PARTITION'
    | 'HEAL'
    | 'CRASH_SOURCE'
    | 'RESTART_SOURCE'
    | 'CRASH_DEST'
    | 'RESTART_DEST'
    | 'FAILOVER'
    | 'CP_STARTED'
    | 'CP_COMPLETED'
    | 'REL_OUT_OF_SYNC'
    | 'REL_RESYNCING'
    | 'REL_IN_SYNC'
    | 'REL_FAILED_OVER',
): ModelEvent => ({ type });

/** The source's CP n, start to completion, while in sync. */
const inSyncCp = (n: number): ModelEvent[] => [E('CP_STARTED'), PRIMARY(n), MIRROR(n), E('CP_COMPLETED')];

function reach(mode: Mode, events: readonly ModelEvent[]): ModelSnapshot {
  const out = stepAll(initialModelState({ sourceId: 'src0', mode }), events);
  if (!out.ok) throw new Error(`setup: ${out.reason}`);
  return out.state.snapshot;
}

interface Refusal {
  readonly why: string;
  readonly mode: Mode;
  readonly before: readonly ModelEvent[];
  readonly event: ModelEvent;
}

const REFUSED: readonly Refusal[] = [
  {
    why: 'strict-sync ack while out of sync',
    mode: 'strict-sync',
    before: [W(1), E('REL_OUT_OF_SYNC')],
    event: ACK(1),
  },
  {
    why: 'sync ack in sync of a write accepted during a partition',
    mode: 'sync',
    before: [E('PARTITION'), W(1)],
    event: ACK(1),
  },
  {
    why: 'strict-sync ack of a write accepted while the destination is down',
    mode: 'strict-sync',
    before: [E('CRASH_DEST'), W(1)],
    event: ACK(1),
  },
  {
    why: 'in sync reported while partitioned',
    mode: 'sync',
    before: [E('PARTITION'), E('REL_OUT_OF_SYNC'), E('HEAL'), E('REL_RESYNCING'), E('PARTITION')],
    event: E('REL_IN_SYNC'),
  },
  { why: 'in sync without a resync', mode: 'sync', before: [E('REL_OUT_OF_SYNC')], event: E('REL_IN_SYNC') },
  {
    why: 'in sync with the mirror behind the primary',
    mode: 'sync',
    before: [
      E('PARTITION'),
      E('REL_OUT_OF_SYNC'),
      E('CP_STARTED'),
      PRIMARY(1),
      E('CP_COMPLETED'),
      E('HEAL'),
      E('REL_RESYNCING'),
    ],
    event: E('REL_IN_SYNC'),
  },
  {
    why: 'resyncing while partitioned',
    mode: 'sync',
    before: [E('PARTITION'), E('REL_OUT_OF_SYNC')],
    event: E('REL_RESYNCING'),
  },
  { why: 'a write while the source is crashed', mode: 'sync', before: [E('CRASH_SOURCE')], event: W(1) },
  { why: 'a write id used twice', mode: 'semi-sync', before: [W(1)], event: W(1) },
  {
    why: 'failover once promoted',
    mode: 'sync',
    before: [E('CRASH_SOURCE'), E('FAILOVER'), E('REL_FAILED_OVER')],
    event: E('FAILOVER'),
  },
  { why: 'failover while the source is up', mode: 'sync', before: [], event: E('FAILOVER') },
  {
    why: 'failover while the destination is down',
    mode: 'sync',
    before: [E('CRASH_DEST'), E('CRASH_SOURCE')],
    event: E('FAILOVER'),
  },
  {
    why: 'the source restarts after it was failed over',
    mode: 'sync',
    before: [E('CRASH_SOURCE'), E('FAILOVER')],
    event: E('RESTART_SOURCE'),
  },
  { why: 'a mirror CP ahead of the primary', mode: 'sync', before: [E('CP_STARTED')], event: MIRROR(1) },
  {
    why: 'a mirror CP committed while the destination is down',
    mode: 'sync',
    before: [E('CP_STARTED'), PRIMARY(1), E('CRASH_DEST')],
    event: MIRROR(1),
  },
  { why: 'a mirror CP going back', mode: 'sync', before: inSyncCp(1), event: MIRROR(1) },
  {
    why: 'a CP completed in sync before the mirror confirmed it',
    mode: 'sync',
    before: [E('CP_STARTED'), PRIMARY(1)],
    event: E('CP_COMPLETED'),
  },
  {
    why: 'a CP completed before the source wrote its root',
    mode: 'semi-sync',
    before: [E('REL_OUT_OF_SYNC'), E('CP_STARTED')],
    event: E('CP_COMPLETED'),
  },
  {
    why: 'a primary CP number that does not grow',
    mode: 'sync',
    before: [E('REL_OUT_OF_SYNC'), E('CP_STARTED'), PRIMARY(2), E('CP_COMPLETED'), E('CP_STARTED')],
    event: PRIMARY(2),
  },
  { why: 'a primary CP without a CP started', mode: 'sync', before: [], event: PRIMARY(1) },
  {
    why: 'a second CP started before the first completed',
    mode: 'sync',
    before: [E('CP_STARTED')],
    event: E('CP_STARTED'),
  },
  { why: 'an ack of a write never accepted', mode: 'semi-sync', before: [], event: ACK(42) },
  { why: 'a write acknowledged twice', mode: 'semi-sync', before: [W(1), ACK(1)], event: ACK(1) },
  {
    why: 'a semi-sync write failed',
    mode: 'semi-sync',
    before: [E('REL_OUT_OF_SYNC'), W(1)],
    event: FAIL(1),
  },
  {
    why: 'a sync write failed out of sync (sync acknowledges instead)',
    mode: 'sync',
    before: [E('REL_OUT_OF_SYNC'), W(1)],
    event: FAIL(1),
  },
  { why: 'a strict-sync write failed while in sync', mode: 'strict-sync', before: [W(1)], event: FAIL(1) },
  {
    why: 'an ack from a source whose memory was lost',
    mode: 'semi-sync',
    before: [W(1), E('CRASH_SOURCE'), E('RESTART_SOURCE')],
    event: ACK(1),
  },
  {
    why: 'a crash in the middle of a CP while none is in progress',
    mode: 'sync',
    before: [],
    event: { type: 'CRASH_SOURCE', midCpWrite: 3 },
  },
  {
    why: 'a third disk failure on one side (beyond RAID-DP and the fault atlas)',
    mode: 'sync',
    before: [
      { type: 'DISK_FAIL', side: 'source' },
      { type: 'DISK_FAIL', side: 'source' },
    ],
    event: { type: 'DISK_FAIL', side: 'source' },
  },
  {
    why: 'a latent error on a side with two faults outstanding',
    mode: 'sync',
    before: [
      { type: 'DISK_FAIL', side: 'destination' },
      { type: 'LATENT_ERROR', side: 'destination' },
    ],
    event: { type: 'LATENT_ERROR', side: 'destination' },
  },
  {
    why: 'a torn power cut on a side whose one latent error of two was repaired',
    mode: 'sync',
    before: [
      { type: 'LATENT_ERROR', side: 'source' },
      { type: 'LATENT_ERROR', side: 'source' },
      { type: 'DISK_REPAIRED', side: 'source' },
    ],
    event: { type: 'CRASH_SOURCE', torn: true },
  },
  {
    why: 'a power cut in the middle of a CP on a degraded side (the RAID write hole)',
    mode: 'sync',
    before: [{ type: 'DISK_FAIL', side: 'source' }, E('CP_STARTED')],
    event: { type: 'CRASH_SOURCE', midCpWrite: 1 },
  },
  {
    why: 'a destination power cut once a mirror is lost (D5)',
    mode: 'sync',
    before: [
      { type: 'DISK_FAIL', side: 'destination' },
      { type: 'DISK_FAIL', side: 'destination' },
      { type: 'MIRROR_LOST' },
    ],
    event: E('CRASH_DEST'),
  },
  {
    why: 'a repair on a side without a fault',
    mode: 'sync',
    before: [],
    event: { type: 'DISK_REPAIRED', side: 'destination' },
  },
  {
    why: 'a power cut on a degraded side (the RAID write hole)',
    mode: 'sync',
    before: [{ type: 'DISK_FAIL', side: 'source' }],
    event: { type: 'CRASH_SOURCE', torn: true },
  },
  {
    why: 'a disk failure on a side that is down (its parity may be stale until it restarts)',
    mode: 'sync',
    before: [E('CRASH_DEST')],
    event: { type: 'DISK_FAIL', side: 'destination' },
  },
  {
    why: 'a disk replaced on a side without a fault',
    mode: 'sync',
    before: [],
    event: { type: 'REPLACE_DISK', side: 'source' },
  },
  {
    why: 'the relationship reported failed over without a failover',
    mode: 'sync',
    before: [E('CRASH_SOURCE')],
    event: E('REL_FAILED_OVER'),
  },
  {
    why: 'a partition after failover',
    mode: 'sync',
    before: [E('CRASH_SOURCE'), E('FAILOVER')],
    event: E('PARTITION'),
  },
];

describe('the statechart refuses events that are not enabled', () => {
  it.each(REFUSED)('$why', ({ mode, before, event }) => {
    const snapshot = reach(mode, before);
    expect(snapshot.can(event)).toBe(false);
    const [next] = transition(relationshipMachine, snapshot, event);
    expect(next.value).toEqual(snapshot.value);
    expect(next.context).toEqual(snapshot.context);
    const out = step({ snapshot, data: initialModelState({ sourceId: 'src0', mode }).data }, event);
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.reason).toContain(describeEvent(event));
  });
});

interface Accepted {
  readonly why: string;
  readonly mode: Mode;
  readonly events: readonly ModelEvent[];
  readonly source: string;
  readonly relationship: string;
}

/** After a restart: the recovery CP of write 1, then a resync that brings the mirror to it. */
const RECOVERY_CP_AND_RESYNC = [
  E('CP_STARTED'),
  PRIMARY(1),
  E('CP_COMPLETED'),
  E('REL_RESYNCING'),
  MIRROR(1),
  E('REL_IN_SYNC'),
];

const ACCEPTED: readonly Accepted[] = [
  {
    why: 'two faults on one side (a RAID-DP group), each gone again, then a power cut',
    mode: 'sync',
    events: [
      { type: 'DISK_FAIL', side: 'source' },
      { type: 'LATENT_ERROR', side: 'source' },
      { type: 'REPLACE_DISK', side: 'source' },
      { type: 'DISK_REPAIRED', side: 'source' },
      E('CRASH_SOURCE'),
    ],
    source: 'crashed',
    relationship: 'outOfSync',
  },
  {
    why: 'an in-sync CP round with a mirrored write',
    mode: 'strict-sync',
    events: [W(1), ACK(1), ...inSyncCp(1)],
    source: 'serving.idle',
    relationship: 'inSync',
  },
  {
    why: 'the CP phases, one per tick',
    mode: 'sync',
    events: [E('CP_STARTED'), E('TICK'), E('TICK'), PRIMARY(1), MIRROR(1), E('CP_COMPLETED')],
    source: 'serving.idle',
    relationship: 'inSync',
  },
  {
    why: 'a CP completed alone during a partition, then a resync',
    mode: 'sync',
    events: [
      E('PARTITION'),
      W(1),
      E('REL_OUT_OF_SYNC'),
      ACK(1),
      E('CP_STARTED'),
      PRIMARY(1),
      E('CP_COMPLETED'),
      E('HEAL'),
      E('REL_RESYNCING'),
      MIRROR(1),
      E('REL_IN_SYNC'),
    ],
    source: 'serving.idle',
    relationship: 'inSync',
  },
  {
    why: 'a strict-sync write failed while out of sync',
    mode: 'strict-sync',
    events: [E('PARTITION'), W(1), E('REL_OUT_OF_SYNC'), FAIL(1)],
    source: 'serving.idle',
    relationship: 'outOfSync',
  },
  {
    why: 'the mirror commits a CP sync it holds after the link broke',
    mode: 'sync',
    events: [E('CP_STARTED'), PRIMARY(1), E('PARTITION'), E('REL_OUT_OF_SYNC'), E('CP_COMPLETED'), MIRROR(1)],
    source: 'serving.idle',
    relationship: 'outOfSync',
  },
  {
    why: 'a failover after a mid-CP crash, then the promoted volume serves',
    mode: 'sync',
    events: [
      W(1),
      ACK(1),
      E('CP_STARTED'),
      PRIMARY(1),
      { type: 'CRASH_SOURCE', midCpWrite: 2, torn: true },
      E('FAILOVER'),
      E('REL_FAILED_OVER'),
      MIRROR(2),
      W(2),
      ACK(2),
    ],
    source: 'crashed',
    relationship: 'failedOver',
  },
  {
    why: 'a restart, its recovery CP and a resync',
    mode: 'semi-sync',
    events: [W(1), E('CRASH_SOURCE'), E('RESTART_SOURCE'), ...RECOVERY_CP_AND_RESYNC],
    source: 'serving.idle',
    relationship: 'inSync',
  },
  {
    why: 'power cuts between calls on degraded sides, restarts, and a CP and its sync on both (D6)',
    mode: 'sync',
    events: [
      W(1),
      ACK(1),
      { type: 'DISK_FAIL', side: 'source' },
      { type: 'DISK_FAIL', side: 'destination' },
      E('CRASH_SOURCE'),
      E('CRASH_DEST'),
      E('RESTART_DEST'),
      E('RESTART_SOURCE'),
      ...RECOVERY_CP_AND_RESYNC,
    ],
    source: 'serving.idle',
    relationship: 'inSync',
  },
  {
    why: 'a destination restart resumes the CP sync',
    mode: 'sync',
    events: [E('CP_STARTED'), PRIMARY(1), E('CRASH_DEST'), E('RESTART_DEST'), MIRROR(1), E('CP_COMPLETED')],
    source: 'serving.idle',
    relationship: 'inSync',
  },
];

describe('the statechart accepts what the protocol allows', () => {
  it.each(ACCEPTED)('$why', ({ mode, events, source, relationship }) => {
    const s = controlState(reach(mode, events));
    expect(s.source).toBe(source);
    expect(s.relationship).toBe(relationship);
  });

  it('starts in sync, serving, with both sides at CP 0', () => {
    const [s] = initialTransition(relationshipMachine, { sourceId: 'src3', mode: 'semi-sync' });
    expect(controlState(s)).toEqual({
      source: 'serving.idle',
      destination: 'up',
      link: 'connected',
      relationship: 'inSync',
    });
    expect(s.context).toMatchObject({
      sourceId: 'src3',
      mode: 'semi-sync',
      primaryCp: 0,
      mirrorCp: 0,
      pending: [],
    });
  });
});
