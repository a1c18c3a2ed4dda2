// The model's events: a finite list in two families. Environment events are what the harness makes
// happen; observation events are what a target was seen to do, derived from its observations and acks.

import type { Mode, NodeId } from '../harness/target.ts';

export type { Mode, NodeId };

/** Which side of a relationship a disk fault or repair falls on. */
export type Side = 'source' | 'destination';

/**
 * Environment (schedule) events: the harness injects them into the target and the model alike, and
 * only when the model says they are enabled (`snapshot.can`), so a schedule stays within what the
 * system claims to survive (the fault atlas).
 * - WRITE / READ: a client request to the source (after failover: to the promoted mirror).
 * - TICK: time passes; the only clock the model has (no `after`, no timers).
 * - PARTITION / HEAL: the link breaks (in-flight messages are lost) or comes back.
 * - CRASH_SOURCE: power loss at the source; `midCpWrite` places it after that many media writes of a
 *   CP in progress, `torn` tears the last one. RESTART_SOURCE: power is back.
 * - CRASH_DEST / RESTART_DEST: the same for the destination.
 * - DISK_FAIL / LATENT_ERROR / REPLACE_DISK: a disk of one side fails, silently corrupts a block, or is
 *   replaced by a blank spare and rebuilt. DISK_REPAIRED: the harness saw a latent error gone from its
 *   disks (the block rewritten: read-repair, scrub, overwrite), or subsumed by its disk's failure. The
 *   fault atlas keeps each RAID group within its tolerance (the model: at most two faults outstanding
 *   per side), none while that side is down, and no power cut inside a write (`midCpWrite`, `torn`)
 *   on a side with a fault outstanding (a torn or half-written stripe on a degraded group is the write
 *   hole); a plain power cut, between two calls, may come while a side is degraded (rule D6).
 * - VOLUME_LOST: a disk of the source's primary group failed past the group's tolerance (harness/target.ts
 *   rule D4): its volume is offline. It serves no restart again; what it answers is judged as before,
 *   but it may fail any write and owes no CP (T1, T2, N1 no longer bind it). The operator fails it over.
 * - MIRROR_LOST: a disk of the destination's mirror group of this source failed past the group's
 *   tolerance (rule D5): the mirror is offline for good. It commits no CP again and is never promoted;
 *   the source carries on unmirrored, and the relationship never comes back in sync past the CP the
 *   mirror holds.
 * - FAILOVER: the source is lost for good; the operator asks the destination to promote its mirror
 *   (asked again if a destination crash cut the promotion short, until the target shows it).
 */
export type EnvironmentEvent =
  /** `content`: the write's data is that content class's (harness/write_contents.ts), not its own fresh block. */
  | { readonly type: 'WRITE'; readonly lba: number; readonly writeId: number; readonly content?: number }
  | { readonly type: 'READ'; readonly lba: number }
  | { readonly type: 'TICK' }
  | { readonly type: 'PARTITION' }
  | { readonly type: 'HEAL' }
  | { readonly type: 'CRASH_SOURCE'; readonly midCpWrite?: number; readonly torn?: boolean }
  | { readonly type: 'RESTART_SOURCE' }
  | { readonly type: 'CRASH_DEST' }
  | { readonly type: 'RESTART_DEST' }
  | { readonly type: 'DISK_FAIL'; readonly side: Side }
  | { readonly type: 'LATENT_ERROR'; readonly side: Side }
  | { readonly type: 'REPLACE_DISK'; readonly side: Side }
  | { readonly type: 'DISK_REPAIRED'; readonly side: Side }
  | { readonly type: 'VOLUME_LOST' }
  | { readonly type: 'MIRROR_LOST' }
  | { readonly type: 'FAILOVER' };

/**
 * Observation events: the harness derives them from two successive observations of a target and the
 * acks it drained (refinement.ts, `observationEvents`). The model checks each is enabled; one that is
 * not is the target misbehaving (a strict-sync ack while out of sync, a mirror CP ahead of the
 * primary's, a CP completed in sync before the mirror confirmed it, in sync while partitioned, ...).
 * - CP_STARTED: the source started a CP (cpInProgress went up).
 * - PRIMARY_CP_COMMITTED: the source's root for CP `cp` is written (primaryCp went up).
 * - CP_COMPLETED: the source completed its CP (cpInProgress went down): the frozen NVLOG half is free.
 *   In sync it may complete only once the mirror committed the same CP: the destination's confirm.
 * - MIRROR_CP_COMMITTED: the destination's mirror of this source committed CP `cp` (mirrorCp went up).
 * - WRITE_ACKED / WRITE_FAILED: an ack effect for a client write, ok or not.
 * - REL_*: the relationship state the source reports changed.
 */
export type ObservationEvent =
  | { readonly type: 'CP_STARTED' }
  | { readonly type: 'PRIMARY_CP_COMMITTED'; readonly cp: number }
  | { readonly type: 'CP_COMPLETED' }
  | { readonly type: 'MIRROR_CP_COMMITTED'; readonly cp: number }
  | { readonly type: 'WRITE_ACKED'; readonly writeId: number }
  | { readonly type: 'WRITE_FAILED'; readonly writeId: number }
  | { readonly type: 'REL_OUT_OF_SYNC' }
  | { readonly type: 'REL_RESYNCING' }
  | { readonly type: 'REL_IN_SYNC' }
  | { readonly type: 'REL_FAILED_OVER' };

export type ModelEvent = EnvironmentEvent | ObservationEvent;

export type EventType = ModelEvent['type'];

export const ENVIRONMENT_EVENT_TYPES = [
  'WRITE',
  'READ',
  'TICK',
  'PARTITION',
  'HEAL',
  'CRASH_SOURCE',
  'RESTART_SOURCE',
  'CRASH_DEST',
  'RESTART_DEST',
  'DISK_FAIL',
  'LATENT_ERROR',
  'REPLACE_DISK',
  'DISK_REPAIRED',
  'VOLUME_LOST',
  'MIRROR_LOST',
  'FAILOVER',
] as const satisfies readonly EnvironmentEvent['type'][];

export const OBSERVATION_EVENT_TYPES = [
  'CP_STARTED',
  'PRIMARY_CP_COMMITTED',
  'CP_COMPLETED',
  'MIRROR_CP_COMMITTED',
  'WRITE_ACKED',
  'WRITE_FAILED',
  'REL_OUT_OF_SYNC',
  'REL_RESYNCING',
  'REL_IN_SYNC',
  'REL_FAILED_OVER',
] as const satisfies readonly ObservationEvent['type'][];

export type EventFamily = 'environment' | 'observation';

const OBSERVATION_SET: ReadonlySet<string> = new Set(OBSERVATION_EVENT_TYPES);

export function familyOf(event: ModelEvent): EventFamily {
  return OBSERVATION_SET.has(event.type) ? 'observation' : 'environment';
}

/** An event as a counterexample prints it: `WRITE(lba=1, writeId=7)`. */
export function describeEvent(event: ModelEvent): string {
  const { type, ...payload } = event;
  const fields = Object.entries(payload).map(([k, v]) => `${k}=${String(v)}`);
  return fields.length === 0 ? type : `${type}(${fields.join(', ')})`;
}
