// Fault coverage: which fault classes and situations one run exercised, named so that a campaign can
// count, per name, the schedules that reached it (`faultCoverage` in `cpsync check --json`). Only what
// the harness itself did and saw counts: the actions it ran and the state the target showed just
// before each (a crash "during a resync" is a crash while the relationship read resyncing).

import type { History } from './history.ts';
import type { ScheduleConfig } from './schedule.ts';
import { DESTINATION, type NodeId } from './target.ts';
import { type World, type WorldAction, writesIssuedBy } from './world.ts';

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
  'rebuild-interrupted',
  'read-while-degraded',
  'double-failure-raid-dp',
  'read-while-doubly-degraded',
  'latent-error-repaired',
  'scrub',
  'crash-after-disk-fault',
  'crash-while-degraded',
  'restart-while-degraded',
  'volume-lost',
  'read-of-lost-volume',
  'failover-of-lost-volume',
  'mirror-lost',
  'write-after-mirror-lost',
  // The operator.
  'failover',
  'failover-after-in-sync-acks',
  // Workloads: data patterns, access patterns, and a log file that wraps.
  'same-contents-other-lba',
  'same-contents-again',
  'zero-block-written',
  'one-byte-off',
  'sequential-writes',
  'hot-set-overwrites',
  'log-file-wrapped',
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
  const faults = h.world.diskFaults;
  if (h.action?.kind === 'fail-disk' && doublyDegraded(h.world, h.action.node))
    out.push('double-failure-raid-dp');
  // A latent error the harness planted, seen rewritten on its disk (read-repair, scrub, overwrite):
  // looking at the planted errors is what notices one gone.
  faults.latentErrors();
  if (faults.repairedLatentErrors > 0) out.push('latent-error-repaired');
  const dstLost = h.before.destinationUp && !h.after.destinationUp;
  // Power went in the middle of a rebuild (the cut replace-disk armed fell inside it, rule D2).
  if (h.action?.kind === 'replace-disk' && h.action.cutAfterWrites !== undefined) {
    const node = h.action.node;
    const lost = node === DESTINATION ? dstLost : h.before.sources[node]?.up && !h.after.sources[node]?.up;
    if (lost) out.push('rebuild-interrupted');
  }
  // A node that had a disk fault loses power: the fault known gone, or still outstanding (a cut
  // between calls on a degraded node, rule D6); and a node that comes back on degraded groups.
  const degraded = (node: NodeId) => faults.onNode(node) > 0 && !h.world.lostVolumes.has(node);
  for (const [id, b] of Object.entries(h.before.sources)) {
    const a = h.after.sources[id]!;
    if (b.up && !a.up && faults.everFaulted(id))
      out.push(degraded(id) ? 'crash-while-degraded' : 'crash-after-disk-fault');
    if (!b.up && a.up && degraded(id)) out.push('restart-while-degraded');
  }
  if (dstLost && faults.everFaulted(DESTINATION))
    out.push(degraded(DESTINATION) ? 'crash-while-degraded' : 'crash-after-disk-fault');
  if (!h.before.destinationUp && h.after.destinationUp && degraded(DESTINATION))
    out.push('restart-while-degraded');
  for (const [id, b] of Object.entries(h.before.sources)) {
    const lost = dstLost || (b.up && !h.after.sources[id]!.up);
    if (!lost) continue;
    if (b.relationship === 'resyncing') out.push('crash-during-resync');
    if (b.up && b.cpInProgress) out.push('crash-during-cp');
  }
  out.push(...workloadClasses(h));
  return out;
}

/**
 * What the step's writes were, from the data the world drew for them (write_contents.ts): contents
 * another LBA's write had, contents this LBA had before, zeros, one byte off an earlier write; 16 or
 * more to consecutive LBAs (sequential); 8 or more to at most 4 LBAs (a hot set overwritten). And a
 * log file that wrapped: a source has more writes acknowledged in sync (each entry forwarded, rule A1)
 * than its log file group has blocks, and a record takes at least its data block.
 */
export function workloadClasses(h: History): FaultClass[] {
  const out = new Set<FaultClass>();
  const n = h.action ? writesIssuedBy(h.action) : 0;
  const writes = n > 0 ? h.world.writes.slice(-n) : [];
  for (const w of writes) {
    const s = h.world.contents.sharingOf(w.writeId);
    if (s === 'zero') out.add('zero-block-written');
    else if (s === 'near') out.add('one-byte-off');
    else if (s === 'same-contents-other-lba' || s === 'same-contents-again') out.add(s);
  }
  let run = 1;
  for (let i = 1; i < writes.length && run < 16; i++)
    run =
      writes[i]!.lba === writes[i - 1]!.lba + 1 && writes[i]!.source === writes[i - 1]!.source ? run + 1 : 1;
  if (run >= 16) out.add('sequential-writes');
  if (writes.length >= 8 && new Set(writes.map((w) => `${w.source}|${w.lba}`)).size <= 4)
    out.add('hot-set-overwrites');
  if (logFileWrapped(h)) out.add('log-file-wrapped');
  return [...out];
}

/** Some source has had more writes acknowledged in sync than its log file group has blocks. */
export function logFileWrapped(h: History): boolean {
  return h.world.spec.sources.some(
    (s) => h.source(s.id).ackedInSync.size > s.logFile.dataDisks * s.logFile.blocksPerDisk,
  );
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
      // Only run once the atlas enabled it: a `beyond` failure then takes the group past tolerance.
      if (action.beyond !== true) return ['disk-failure'];
      return ['disk-failure', action.node === DESTINATION ? 'mirror-lost' : 'volume-lost'];
    case 'latent-error':
      return ['latent-error'];
    case 'replace-disk':
      return ['disk-replaced'];
    case 'scrub':
      return ['scrub'];
    case 'write':
    case 'burst':
      return world.lostMirrors.has(action.source) ? ['write-after-mirror-lost'] : [];
    case 'read': {
      const node = shown[action.source]?.relationship === 'failed-over' ? DESTINATION : action.source;
      if (node !== DESTINATION && world.lostVolumes.has(node)) return ['read-of-lost-volume'];
      const degraded = Object.values(world.media[node]!.groups).some((g) => g.some((d) => d.isFailed));
      if (!degraded) return [];
      return doublyDegraded(world, node)
        ? ['read-while-degraded', 'read-while-doubly-degraded']
        : ['read-while-degraded'];
    }
    case 'failover': {
      const acked = h.source(action.source).latestAckedInSync.some((id) => id > 0);
      const out: FaultClass[] = acked ? ['failover', 'failover-after-in-sync-acks'] : ['failover'];
      if (world.lostVolumes.has(action.source)) out.push('failover-of-lost-volume');
      return out;
    }
    default:
      return [];
  }
}

/** Does some group of `node` run with two failed disks (only a RAID-DP group can)? */
function doublyDegraded(world: World, node: string): boolean {
  // A primary past its tolerance (D4) is lost, not degraded: a RAID-4 one has two failed disks too.
  // So is a mirror group past its (D5): a third failed disk of RAID-DP.
  if (world.lostVolumes.has(node) || (node === DESTINATION && world.lostMirrors.size > 0)) return false;
  return Object.values(world.media[node]!.groups).some((g) => g.filter((d) => d.isFailed).length >= 2);
}
