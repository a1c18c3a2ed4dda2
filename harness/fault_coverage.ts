// Fault coverage: which fault classes and situations one run exercised, named so that a campaign can
// count, per name, the schedules that reached it (`faultCoverage` in `cpsync check --json`). Only what
// the harness itself did and saw counts: the actions it ran and the state the target showed just
// before each (a crash "during a resync" is a crash while the relationship read resyncing).

import type { History } from './history.ts';
import type { ScheduleConfig } from './schedule.ts';
import { DESTINATION } from './target.ts';
import type { World, WorldAction } from './world.ts';

/** Every name a run can report, in the order a summary prints them. */
export const FAULT_CLASSES = [
  // The link: per-link rates drawn for the schedule, then faults the schedule aims.
  'lossy-link',
  'duplicating-link',
  'reordering-link',
  'delaying-link',
  'partition',
  'slow-link',
  'message-lose',
  'message-duplicate',
  'message-delay',
  'message-stale',
  'message-corrupt',
  'message-truncate',
  // Time.
  'node-paused',
  'clock-drift',
  // Power.
  'crash',
  'crash-mid-work',
  'crash-torn-write',
  'crash-during-cp',
  'crash-during-resync',
  'destination-crash',
  // Disks.
  'disk-failure',
  'latent-error',
  'disk-replaced',
  'read-while-degraded',
  // The operator.
  'failover',
  'failover-after-in-sync-acks',
] as const;

export type FaultClass = (typeof FAULT_CLASSES)[number];

/** The classes a schedule's world has from the start (its link's rates). */
export function configClasses(config: ScheduleConfig): FaultClass[] {
  const f = config.linkFaults;
  if (!f) return [];
  const out: FaultClass[] = [];
  if (f.lossPercent > 0) out.push('lossy-link');
  if (f.duplicatePercent > 0) out.push('duplicating-link');
  if (f.reorderPercent > 0) out.push('reordering-link');
  if (f.deliveryDelayTicksMax > f.deliveryDelayTicksMin) out.push('delaying-link');
  return out;
}

/**
 * The situations a step ended in: power lost (a crash now, or an armed cut firing) while the
 * relationship read resyncing, or while its source had a CP in progress (`h.before` is the state the
 * step met, `h.after` what it left).
 */
export function stepClasses(h: History): FaultClass[] {
  const out: FaultClass[] = [];
  const dstLost = h.before.destinationUp && !h.after.destinationUp;
  for (const [id, b] of Object.entries(h.before.sources)) {
    const lost = dstLost || (b.up && !h.after.sources[id]!.up);
    if (!lost) continue;
    if (b.relationship === 'resyncing') out.push('crash-during-resync');
    if (b.up && b.cpInProgress) out.push('crash-during-cp');
  }
  return out;
}

/** The classes `action` exercises, judged just before it runs (`h.after` is the state it meets). */
export function actionClasses(action: WorldAction, world: World, h: History): FaultClass[] {
  const shown = h.after.sources;
  switch (action.kind) {
    case 'partition':
      return ['partition'];
    case 'slow':
      return ['slow-link'];
    case 'pause':
      return ['node-paused'];
    case 'drift':
      return action.skipEvery > 0 ? ['clock-drift'] : [];
    case 'message-fault':
      return [`message-${action.fault.kind}`];
    case 'crash': {
      const out: FaultClass[] = [action.afterWrites === undefined ? 'crash' : 'crash-mid-work'];
      if (action.torn) out.push('crash-torn-write');
      if (action.node === DESTINATION) out.push('destination-crash');
      return out;
    }
    case 'fail-disk':
      return ['disk-failure'];
    case 'latent-error':
      return ['latent-error'];
    case 'replace-disk':
      return ['disk-replaced'];
    case 'read': {
      const node = shown[action.source]?.relationship === 'failed-over' ? DESTINATION : action.source;
      const degraded = Object.values(world.media[node]!.groups).some((g) => g.some((d) => d.isFailed));
      return degraded ? ['read-while-degraded'] : [];
    }
    case 'failover': {
      const acked = h.source(action.source).latestAckedInSync.some((id) => id > 0);
      return acked ? ['failover', 'failover-after-in-sync-acks'] : ['failover'];
    }
    default:
      return [];
  }
}
