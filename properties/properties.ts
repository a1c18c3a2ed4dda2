// The properties a conformance run checks, each a named value with a kind (Stateright's vocabulary):
// `always` must hold after every step, `eventually` must hold once the liveness phase has healed every
// fault, `sometimes` records that an interesting state was reached, so no `always` passes vacuously.
// Every check reads the run's History, which sees a target only through the conformance interface.

import type { History, Image } from '../harness/history.ts';
import { compareMirror, compareNewlyLive, isEqual } from '../harness/mirror_compare.ts';
import { MESSAGE_OVERHEAD_BYTES, type NodeId, resyncMetadataBlocks } from '../harness/target.ts';
import { OUT_OF_RANGE_WRITE_IDS } from '../harness/world.ts';
import { DISK_OBLIGATIONS } from './disk_obligations.ts';
import { OBLIGATIONS } from './obligations.ts';

export type PropertyKind = 'always' | 'eventually' | 'sometimes';

/** `always`/`eventually`: a violation message, or null. `sometimes`: true when the state was reached. */
export interface Property {
  readonly name: string;
  readonly kind: PropertyKind;
  readonly description: string;
  /** For `sometimes`: the `always` properties whose precondition this shows is reached. */
  readonly partnerOf?: readonly string[];
  readonly check: (h: History) => string | null | boolean;
}

const sources = (h: History): NodeId[] => h.world.spec.sources.map((s) => s.id);
const modeOf = (h: History, id: NodeId) => h.world.spec.sources.find((s) => s.id === id)!.mode;

/** Two images hold the same class at every LBA (compared in place: no strings built). */
function sameImage(a: Image, b: Image): boolean {
  if (a.length !== b.length) return false;
  for (let lba = 0; lba < a.length; lba++) if (a[lba] !== b[lba]) return false;
  return true;
}

function imageDiff(a: Image, b: Image, limit = 4): string {
  const out: string[] = [];
  for (let lba = 0; lba < a.length && out.length < limit; lba++)
    if (a[lba] !== b[lba]) out.push(`lba ${lba}: ${a[lba]} vs ${b[lba]}`);
  return out.join(', ');
}

// always ---------------------------------------------------------------------------------------------

/** At a CP boundary (both sides committed the same CP, nothing in flight) the volumes are equal. */
const mirrorEqualsPrimaryAtCp: Property = {
  name: 'mirror-equals-primary-at-cp',
  kind: 'always',
  description: 'at every CP boundary the mirror equals the primary, block for block by VBN and by LBA',
  check(h) {
    for (const id of sources(h)) {
      const a = h.after.sources[id]!;
      if (!a.up || !h.after.destinationUp || a.relationship === 'failed-over') continue;
      // A lost volume (D4) has no primary left to compare: the mirror is all there is of it.
      if (h.world.lostVolumes.has(id)) continue;
      // A boundary: the mirror was just seen at the primary's CP. Only blocks newly live are read.
      const mirror = h.freshMirrorImage(id);
      if (a.mirrorCp !== a.primaryCp || mirror === null) continue;
      const hist = h.source(id);
      const { differing, live } = compareNewlyLive(h.instance, id, hist.comparedLive);
      if (differing.length > 0)
        return `${id} at CP ${a.mirrorCp}: ${differing.length} VBNs differ (${differing.slice(0, 6).join(', ')})`;
      hist.comparedLive = live;
      const p = hist.primaryImages.get(a.primaryCp);
      if (p && !sameImage(p, mirror)) return `${id} at CP ${a.mirrorCp}: by LBA, ${imageDiff(p, mirror)}`;
    }
    return null;
  },
};

/** Between boundaries the destination's committed mirror is exactly some CP image of the primary. */
const mirrorIsACpImage: Property = {
  name: 'mirror-is-a-cp-image',
  kind: 'always',
  description:
    "the destination's committed mirror is always exactly some CP image of the primary, never a mixture",
  check(h) {
    for (const id of sources(h)) {
      const a = h.after.sources[id]!;
      if (!h.after.destinationUp || a.relationship === 'failed-over') continue;
      const hist = h.source(id);
      const primary = hist.primaryImages.get(a.mirrorCp);
      const mirror = h.freshMirrorImage(id);
      if (mirror === null) continue;
      // A source may commit a CP and lose power in one step: its image of that CP was never read (its
      // recovery CP follows at once), but the CP is real. Only a mirror ahead of the primary is wrong.
      if (!primary && a.mirrorCp > a.primaryCp)
        return `${id}: the mirror committed CP ${a.mirrorCp}, which the primary was never seen to commit`;
      if (!primary) continue;
      if (!sameImage(primary, mirror))
        return `${id}: mirror CP ${a.mirrorCp} differs from the primary's CP ${a.mirrorCp} image (${imageDiff(primary, mirror)})`;
    }
    return null;
  },
};

/** After failover, the promoted volume holds every write acknowledged in sync (sync and strict-sync). */
const noAckedWriteLostAfterFailover: Property = {
  name: 'no-acked-write-lost-after-failover',
  kind: 'always',
  description:
    'after failover every write acknowledged in sync or strict-sync mode is in the promoted volume',
  check(h) {
    if (!h.after.destinationUp) return null;
    // When the target first shows the failover: at the failover itself, or at the destination's
    // restart when a power cut fell in the middle of the promotion.
    const id = sources(h).find(
      (s) =>
        h.after.sources[s]!.relationship === 'failed-over' &&
        h.before.sources[s]!.relationship !== 'failed-over',
    );
    if (id === undefined || modeOf(h, id) === 'semi-sync') return null;
    const must = h.source(id).latestAckedInSync;
    for (let lba = 0; lba < must.length; lba++) {
      if (must[lba] === 0) continue;
      const r = h.instance.clientRead(id, lba);
      // The latest write to this LBA the block may be (identical contents are not told apart).
      const got = r.ok ? h.world.contents.latestAt(id, lba, h.world.contents.classOf(r.data)) : -1;
      if (got < must[lba]!)
        return `${id} lba ${lba}: promoted volume holds write ${got}, write ${must[lba]} was acknowledged in sync`;
    }
    return null;
  },
};

/** A strict-sync acknowledgement means the write is at the destination (its log file or its mirror). */
const strictSyncNeverAcksUnmirrored: Property = {
  name: 'strict-sync-never-acks-unmirrored',
  kind: 'always',
  description: 'strict-sync never acknowledges a write the destination does not hold',
  check(h) {
    const strictAcks = h.acks.filter((a) => a.ok && modeOf(h, a.source) === 'strict-sync');
    // An ack the destination sent just before it lost power arrives while it is down: its log file is
    // on its disks, so the check waits until the destination is up again.
    h.deferredAcks.push(...strictAcks);
    if (!h.after.destinationUp || h.deferredAcks.length === 0) return null;
    const contents = h.world.contents;
    for (const ack of h.deferredAcks.splice(0)) {
      if (h.after.sources[ack.source]!.relationship === 'failed-over') continue;
      // By content class at the write's LBA: an entry or block with its data holds it, as replay goes.
      const cls = contents.classOfWrite(ack.writeId);
      const inLog = h.instance
        .logFile(ack.source)
        .some((r) => r.lba === ack.lba && contents.classOf(r.data) === cls);
      if (inLog) continue;
      // A lost mirror (D5) cannot be read, and commits nothing again: its committed image is the last
      // one the history read, when the mirror reached the CP it still shows.
      const hist = h.source(ack.source);
      const lost = h.world.lostMirrors.has(ack.source);
      const image = hist.mirrorImageCp === h.after.sources[ack.source]!.mirrorCp ? hist.mirrorImage : null;
      if (lost && image === null) continue;
      const mirrored = lost
        ? image![ack.lba]!
        : contents.classOf(h.instance.readMirrorCommitted(ack.source, ack.lba));
      if (contents.latestAt(ack.source, ack.lba, mirrored) < ack.writeId)
        return `strict-sync write ${ack.writeId} (lba ${ack.lba}) acknowledged, but the destination holds it nowhere`;
    }
    return null;
  },
};

/** A read returns the latest acknowledged write to its LBA, or a later one, never an older one. */
const readsSeeLatestAcked: Property = {
  name: 'reads-see-latest-acked',
  kind: 'always',
  description: 'a read sees the latest acknowledged write to its LBA (or a later write), never an older one',
  check(h) {
    if (h.action?.kind !== 'read') return null;
    const r = h.world.reads[h.world.reads.length - 1]!;
    if (!r.result.ok) return null;
    const cls = h.world.contents.classOf(r.result.data);
    // The latest write to this LBA the block may be: identical contents pass as the latest of them.
    const got = cls < 0 ? cls : h.world.contents.latestAt(r.source, r.lba, cls);
    const floor = h.source(r.source).latestAcked[r.lba]!;
    if (got >= 0 && got < floor)
      return `${r.source} lba ${r.lba}: read write ${got}, but write ${floor} was acknowledged`;
    return null;
  },
};

/** RAID may refuse a read beyond its tolerance, but data it returns is exactly some write to that LBA. */
const raidNeverReturnsWrongData: Property = {
  name: 'raid-never-returns-wrong-data',
  kind: 'always',
  description: 'a read that succeeds returns exactly a block written to that LBA (or zeros), never garbage',
  check(h) {
    if (h.action?.kind !== 'read') return null;
    const r = h.world.reads[h.world.reads.length - 1]!;
    if (!r.result.ok) return null;
    const contents = h.world.contents;
    const cls = contents.classOf(r.result.data);
    if (cls < 0) return `${r.source} lba ${r.lba}: read returned a block that is no write`;
    if (!contents.holdsAt(r.source, r.lba, cls)) {
      const w = h.world.writeRecord(cls);
      return `${r.source} lba ${r.lba}: read returned the data of write ${cls}${w ? ` of lba ${w.lba}` : ''}, which no write to lba ${r.lba} carried`;
    }
    return null;
  },
};

/** Each source's log file holds that source's writes only (fan-in never crosses entries). */
const logFilesNeverMixSources: Property = {
  name: 'log-files-never-mix-sources',
  kind: 'always',
  description: "a source's log file on the destination holds only that source's writes",
  check(h) {
    // Reading every log file is not free: check at CP boundaries of the mirror and at failover.
    const due =
      h.action?.kind === 'failover' ||
      sources(h).some((id) => h.after.sources[id]!.mirrorCp !== h.before.sources[id]!.mirrorCp);
    if (!due || !h.after.destinationUp) return null;
    for (const id of sources(h)) {
      for (const rec of h.instance.logFile(id)) {
        // By content class: a block that this source's writes and another's both carried is this one's.
        const cls = h.world.contents.classOf(rec.data);
        if (cls >= 0 && h.world.contents.issuedBy(id, cls)) continue;
        const w = cls > 0 ? h.world.writeRecord(cls) : undefined;
        if (!w) return `${id}'s log file holds a record (seq ${rec.seq}) that is no write of this run`;
        return `${id}'s log file holds write ${cls} of ${w.source}`;
      }
    }
    return null;
  },
};

/** A resync sends what changed since the last common CP, never the whole volume. */
const resyncIsIncremental: Property = {
  name: 'resync-is-incremental',
  kind: 'always',
  description: 'a resync sends only the blocks changed since the last common CP, not the whole volume',
  check(h) {
    for (const id of sources(h)) {
      const a = h.after.sources[id]!;
      const b = h.before.sources[id]!;
      if (a.relationship !== 'in-sync' || b.relationship === 'in-sync') continue;
      const hist = h.source(id);
      const before = hist.mirrorImageAtOutOfSync;
      const now = hist.mirrorImage;
      if (!before || !now) continue;
      // The blocks that may differ between the mirror's committed image and the primary's: those that
      // do differ between the images read, and every LBA written since the older one was read (the
      // mirror may have committed, or a crash undone, what the harness could not see in between).
      const differing = new Set<number>();
      // By write, not by content: an LBA that holds the same contents in both images may hold two
      // writes of them (zeros over never written, A B A), and a target need not compare contents.
      for (let lba = 0; lba < now.length; lba++)
        if (now[lba] !== before[lba] || h.world.contents.mayBeSeveral(id, lba, now[lba]!)) differing.add(lba);
      for (const w of h.world.writes.slice(hist.writesAtOutOfSyncImage))
        if (w.source === id) differing.add(w.lba);
      const changed = differing.size;
      // Rule L3 (harness/target.ts). The step that shows in sync again is not charged: the transfer's
      // confirm needs a round trip, so the transfer went out earlier, and what this step sends is the
      // ordinary traffic of a relationship in sync (log entries, a CP sync started this tick).
      const spec = h.world.spec.sources.find((s) => s.id === id)!;
      const writesWhileOut = h.world.writes
        .slice(hist.writesAtOutOfSync)
        .filter((w) => w.source === id).length;
      const perBlock = h.world.spec.blockBytes + MESSAGE_OVERHEAD_BYTES;
      const meta = resyncMetadataBlocks(h.world.spec, spec);
      const charged = hist.bytesSinceOutOfSync - hist.bytesThisStep;
      const bound =
        Math.max(1, hist.resyncAttempts) * (changed + meta) * perBlock +
        2 * writesWhileOut * perBlock +
        hist.messagesSinceOutOfSync * MESSAGE_OVERHEAD_BYTES;
      if (charged > bound)
        return `${id}: resync sent ${charged} bytes for ${changed} changed blocks in ${Math.max(1, hist.resyncAttempts)} attempts (bound ${bound}: per attempt changed + ${meta} metadata blocks, plus ${writesWhileOut} writes' entries twice, at ${perBlock} bytes a block and ${MESSAGE_OVERHEAD_BYTES} a message)`;
    }
    return null;
  },
};

// eventually -----------------------------------------------------------------------------------------

/** Once every fault is healed, every relationship converges: in sync, equal, every client answered. */
const convergesAfterHeal: Property = {
  name: 'converges-after-heal',
  kind: 'eventually',
  description:
    'after every fault is healed, each relationship is in sync (or failed over), mirror equal to primary; one whose mirror is lost has answered every write and completed its CPs',
  check(h) {
    if (!h.after.destinationUp) return 'the destination is still down';
    for (const id of sources(h)) {
      const o = h.after.sources[id]!;
      if (o.relationship === 'failed-over') continue;
      if (!o.up) return `${id} is still down`;
      // A lost mirror (D5) never comes back in sync: the source serves on, unmirrored, and completes
      // its CPs (it left in sync when the mirror stopped confirming them, rule L2).
      if (h.world.lostMirrors.has(id)) {
        if (o.pendingWrites > 0) return `${id} still has ${o.pendingWrites} writes waiting`;
        if (o.cpInProgress) return `${id}, whose mirror is lost, is still in a CP`;
        continue;
      }
      if (o.relationship !== 'in-sync') return `${id} is ${o.relationship}, not in sync`;
      if (o.pendingWrites > 0) return `${id} still has ${o.pendingWrites} writes waiting`;
      if (o.primaryCp !== o.mirrorCp)
        return `${id}: primary at CP ${o.primaryCp}, mirror at CP ${o.mirrorCp}`;
      const d = compareMirror(h.instance, id, h.lbas(id));
      if (!isEqual(d))
        return `${id}: mirror differs from primary in ${d.vbns.length} VBNs and ${d.lbas.length} LBAs`;
    }
    const unanswered = h.world.writes.filter((w) => !w.outcome && h.after.sources[w.source]?.up).length;
    if (unanswered > 0) return `${unanswered} client writes to live sources never answered`;
    return null;
  },
};

// sometimes ------------------------------------------------------------------------------------------

const cpDuringPartition: Property = {
  name: 'cp-committed-during-partition',
  kind: 'sometimes',
  description: 'a CP committed on the source while its link was partitioned',
  partnerOf: ['resync-is-incremental', 'mirror-is-a-cp-image'],
  check: (h) =>
    sources(h).some(
      (id) =>
        h.world.network.isPartitioned(id, 'dst') &&
        h.after.sources[id]!.primaryCp > h.before.sources[id]!.primaryCp,
    ),
};

const mirrorBoundary: Property = {
  name: 'mirror-reached-cp-boundary',
  kind: 'sometimes',
  description: "the mirror reached the primary's CP (a boundary where the volumes are compared)",
  partnerOf: ['mirror-equals-primary-at-cp', 'mirror-is-a-cp-image', 'log-files-never-mix-sources'],
  check: (h) =>
    sources(h).some((id) => {
      const a = h.after.sources[id]!;
      return a.up && a.mirrorCp === a.primaryCp && a.mirrorCp > h.before.sources[id]!.mirrorCp;
    }),
};

const resyncCompleted: Property = {
  name: 'resync-completed',
  kind: 'sometimes',
  description: 'a relationship came back in sync after being out of sync',
  partnerOf: ['resync-is-incremental'],
  check: (h) =>
    sources(h).some(
      (id) =>
        h.after.sources[id]!.relationship === 'in-sync' && h.before.sources[id]!.relationship !== 'in-sync',
    ),
};

const failoverWithAckedWrites: Property = {
  name: 'failover-with-acked-writes',
  kind: 'sometimes',
  description: 'a failover happened with writes acknowledged in sync',
  partnerOf: ['no-acked-write-lost-after-failover'],
  check: (h) =>
    h.action?.kind === 'failover' &&
    h.after.sources[h.action.source]?.relationship === 'failed-over' &&
    h.source(h.action.source).latestAckedInSync.some((x) => x > 0),
};

const failoverAfterMidCpCrash: Property = {
  name: 'failover-after-mid-cp-crash',
  kind: 'sometimes',
  description: 'a failover after the source lost power in the middle of its work (a CP, an NVLOG append)',
  partnerOf: ['no-acked-write-lost-after-failover'],
  check: (h) => h.action?.kind === 'failover' && h.midOperationCrashes.has(h.action.source),
};

const strictAck: Property = {
  name: 'strict-sync-write-acked',
  kind: 'sometimes',
  description: 'a strict-sync write was acknowledged',
  partnerOf: ['strict-sync-never-acks-unmirrored'],
  check: (h) => h.acks.some((a) => a.ok && modeOf(h, a.source) === 'strict-sync'),
};

const strictFailedOutOfSync: Property = {
  name: 'strict-sync-write-failed-out-of-sync',
  kind: 'sometimes',
  description: 'a strict-sync write failed because the relationship was out of sync',
  partnerOf: ['strict-sync-never-acks-unmirrored'],
  check: (h) =>
    h.acks.some((a) => !a.ok && modeOf(h, a.source) === 'strict-sync' && a.relationshipBefore !== 'in-sync'),
};

const readAfterAck: Property = {
  name: 'read-of-acked-write',
  kind: 'sometimes',
  description: 'a read of an LBA that has an acknowledged write',
  partnerOf: ['reads-see-latest-acked', 'raid-never-returns-wrong-data'],
  check(h) {
    if (h.action?.kind !== 'read') return false;
    const r = h.world.reads[h.world.reads.length - 1]!;
    return r.result.ok && h.source(r.source).latestAcked[r.lba]! > 0;
  },
};

const degradedRead: Property = {
  name: 'degraded-read',
  kind: 'sometimes',
  description: "a read succeeded while a disk of the serving node's RAID group was failed",
  partnerOf: ['raid-never-returns-wrong-data', 'reads-succeed-within-tolerance'],
  check(h) {
    if (h.action?.kind !== 'read') return false;
    const r = h.world.reads[h.world.reads.length - 1]!;
    return r.result.ok && (h.world.media[r.source]?.groups.primary ?? []).some((d) => d.isFailed);
  },
};

/** D4's precondition: a read of written data from a source whose primary is past its tolerance. */
const lostVolumeRead: Property = {
  name: 'lost-volume-read',
  kind: 'sometimes',
  description:
    'a read of an LBA with an acknowledged write, from a source whose primary lost more disks than it tolerates',
  partnerOf: ['raid-never-returns-wrong-data', 'reads-see-latest-acked'],
  check(h) {
    if (h.action?.kind !== 'read' || h.after.sources[h.action.source]?.relationship === 'failed-over')
      return false;
    const r = h.world.reads[h.world.reads.length - 1]!;
    return h.world.lostVolumes.has(r.source) && h.source(r.source).latestAcked[r.lba]! > 0;
  },
};

/** D4 with A4: a write a lost volume's source took after the loss was answered while it was up. */
const lostVolumeWriteAnswered: Property = {
  name: 'lost-volume-write-answered',
  kind: 'sometimes',
  description: 'a write taken after its primary went past its tolerance was answered by the source still up',
  partnerOf: ['writes-answered-in-time'],
  check: (h) =>
    h.acks.some(
      (a) =>
        takenAfterLoss(h.world.lostVolumes, a) && h.after.sources[a.source]?.relationship !== 'failed-over',
    ),
};

/** A client write (not an out-of-range one) issued after its source's loss in `losses` (write id then). */
function takenAfterLoss(
  losses: ReadonlyMap<string, number>,
  a: { readonly source: string; readonly writeId: number },
): boolean {
  const lostAfter = losses.get(a.source);
  return lostAfter !== undefined && a.writeId > lostAfter && a.writeId < OUT_OF_RANGE_WRITE_IDS;
}

/** D5 with L2: a source whose mirror is lost completed a CP all the same (unmirrored, out of sync). */
const lostMirrorCpCompleted: Property = {
  name: 'lost-mirror-cp-completed',
  kind: 'sometimes',
  description: 'a source whose mirror went past its tolerance completed a CP the mirror never confirmed',
  partnerOf: ['converges-after-heal'],
  check: (h) =>
    sources(h).some((id) => {
      const b = h.before.sources[id]!;
      const a = h.after.sources[id]!;
      return h.world.lostMirrors.has(id) && b.up && a.up && b.cpInProgress && !a.cpInProgress;
    }),
};

/** D5 with A4: a write taken after its mirror's loss was answered. */
const lostMirrorWriteAnswered: Property = {
  name: 'lost-mirror-write-answered',
  kind: 'sometimes',
  description: 'a write taken after its mirror went past its tolerance was answered',
  partnerOf: ['writes-answered-in-time'],
  check: (h) => h.acks.some((a) => takenAfterLoss(h.world.lostMirrors, a)),
};

export const PROPERTIES: readonly Property[] = [
  mirrorEqualsPrimaryAtCp,
  mirrorIsACpImage,
  noAckedWriteLostAfterFailover,
  strictSyncNeverAcksUnmirrored,
  readsSeeLatestAcked,
  raidNeverReturnsWrongData,
  logFilesNeverMixSources,
  resyncIsIncremental,
  convergesAfterHeal,
  cpDuringPartition,
  mirrorBoundary,
  resyncCompleted,
  failoverWithAckedWrites,
  failoverAfterMidCpCrash,
  strictAck,
  strictFailedOutOfSync,
  readAfterAck,
  degradedRead,
  lostVolumeRead,
  lostVolumeWriteAnswered,
  lostMirrorCpCompleted,
  lostMirrorWriteAnswered,
  ...OBLIGATIONS,
  ...DISK_OBLIGATIONS,
];

export const ALWAYS = PROPERTIES.filter((p) => p.kind === 'always');
export const EVENTUALLY = PROPERTIES.filter((p) => p.kind === 'eventually');
export const SOMETIMES = PROPERTIES.filter((p) => p.kind === 'sometimes');

export function propertyNamed(name: string): Property | undefined {
  return PROPERTIES.find((p) => p.name === name);
}
