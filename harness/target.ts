// The conformance-target interface: the one door through which the simulated world, the model in
// lockstep, the schedules and a user's own code meet an implementation of CP-synchronous mirroring.
// A target does no I/O of its own: inputs come in, effects go out, media are the objects handed to it.

import type { Disk } from './media/disk.ts';
import type { RaidGeometry } from './media/geometry.ts';
import type { Nvram } from './media/nvram.ts';
import type { Power } from './media/power.ts';

/** A server's name in a world: sources are 'src0', 'src1', ...; the destination is 'dst'. */
export type NodeId = string;

export const DESTINATION: NodeId = 'dst';

/** How a source acknowledges client writes (PROTOCOL.md, "Normal operation" step 3). */
export type Mode = 'sync' | 'strict-sync' | 'semi-sync';

export type RelationshipState = 'in-sync' | 'out-of-sync' | 'resyncing' | 'failed-over';

export interface SourceSpec {
  readonly id: NodeId;
  readonly mode: Mode;
  /** Logical blocks of the primary volume (and of its mirror). */
  readonly lbaCount: number;
  /** The source's RAID group. */
  readonly primary: RaidGeometry;
  /** The RAID group that holds this source's mirror volume on the destination: another geometry. */
  readonly mirror: RaidGeometry;
  /** The RAID group that holds this source's log file on the destination. */
  readonly logFile: RaidGeometry;
  /** NVRAM size of the source; the NVLOG uses it as two halves. */
  readonly nvramBytes: number;
  /**
   * Log entries one NVLOG half holds: the half is full after this many entries, whatever the target's
   * record format (the NVRAM is big enough for them). Rules N1-N3 below are counted in these entries.
   */
  readonly nvlogHalfEntries: number;
}

/** Everything a target needs to know to build a world's servers; plain data, serialisable. */
export interface WorldSpec {
  readonly blockBytes: number;
  /** A CP starts every this many ticks of a source (or earlier, when the active NVLOG half fills). */
  readonly cpIntervalTicks: number;
  /** A source that has waited this many ticks for any answer from the destination goes out of sync. */
  readonly ackTimeoutTicks: number;
  /** semi-sync: how many log entries the destination may lag behind before writes wait. */
  readonly semiSyncMaxLagEntries: number;
  readonly sources: readonly SourceSpec[];
}

/**
 * The persistent media of one server, created and owned by the harness so that it can cut power
 * after any media write, fail disks and plant latent errors, whatever the target is.
 */
export interface NodeMedia {
  readonly power: Power;
  /** Sources only: the NVRAM holding the NVLOG. */
  readonly nvram?: Nvram;
  /**
   * RAID groups by name, data disks first then parity, in the order `createRaidGroup` uses.
   * A source has 'primary'; the destination has `mirror:<source>` and `log:<source>` per source.
   */
  readonly groups: Readonly<Record<string, Disk[]>>;
}

/**
 * A client write: the harness draws the data (write_contents.ts). Mostly fresh, its first bytes naming
 * the write (write_identity.ts); but, as real workloads do, it may repeat another write's data (at
 * another LBA, or at this one again), be all zeros, or differ from another write's in one byte. A
 * target keeps exactly the bytes it is given: contents are neither unique nor non-zero.
 */
export interface ClientWrite {
  readonly writeId: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

export type ReadResult =
  | { readonly ok: true; readonly data: Uint8Array }
  | { readonly ok: false; readonly error: string };

/** What a target asks the world to do. The world carries every effect out; a target never does. */
export type Effect =
  | { readonly kind: 'send'; readonly from: NodeId; readonly to: NodeId; readonly bytes: Uint8Array }
  /** The client's write is acknowledged (ok) or failed (error says why, e.g. strict-sync out of sync). */
  | {
      readonly kind: 'ack';
      readonly node: NodeId;
      readonly writeId: number;
      readonly ok: boolean;
      readonly error?: string;
    };

export interface SourceObservation {
  readonly up: boolean;
  readonly relationship: RelationshipState;
  /** The source's last committed CP (its primary volume's root). */
  readonly primaryCp: number;
  /** The destination's last committed CP of this source's mirror. */
  readonly mirrorCp: number;
  /** True while a CP is between its start and its commit on the source. */
  readonly cpInProgress: boolean;
  /** Client writes received and neither acknowledged nor failed yet (stalled or waiting for the mirror). */
  readonly pendingWrites: number;
  /**
   * Optional (rule O5): the relationship states this source passed through during the step, in order,
   * after the one the previous observation showed; the last is `relationship`. Leave it out, or empty,
   * when the relationship moved at most once, straight to `relationship`.
   */
  readonly relationshipPath?: readonly RelationshipState[];
}

export interface Observation {
  readonly destinationUp: boolean;
  readonly sources: Readonly<Record<NodeId, SourceObservation>>;
}

/** One record of the destination's log file for a source, as it is on disk now. */
export interface LogRecord {
  readonly source: NodeId;
  readonly seq: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

/**
 * The rules a target follows. The harness checks each, from what it drove, delivered, saw answered and
 * injected where it can, and from the model in lockstep; nothing else is asked of a target. Each node
 * has its own clock: its `tick` is called at most once per world tick while it is up, never while it
 * is paused (no calls at all then; what arrives for it waits), and a drifting node misses some. Every
 * duration below is counted in the ticks the node it concerns was given: T1, T2 and L2 in the
 * source's, A4 in the serving node's, L1's window in the source's.
 *
 * CP numbers
 * - C1 A source's `primaryCp` only grows, one committed CP at a time; gaps are allowed (2, 4, 6 is fine).
 * - C2 The destination commits for a source only CP numbers that source committed, and the mirror's CP
 *   n is the primary's CP n, block for block by LBA and by VBN (the VBNs are the source's own). So
 *   `mirrorCp <= primaryCp` until failover; after it the promoted volume numbers its own CPs upwards.
 * - C3 `cpInProgress` is true from a CP's start until it completes (the frozen NVLOG half is free); a
 *   CP may also start and complete inside one call, showing only a higher `primaryCp`.
 *
 * CP triggers and the NVLOG (counted in `nvlogHalfEntries` entries; a write takes one entry when the
 *   source logs it; a strict-sync write refused out of sync takes none)
 * - T1 Timer: while a source is up and serving, a CP starts within `cpIntervalTicks` + 1 ticks of the
 *   previous CP's start (or of the source's restart) if any write was accepted since that start; if the
 *   previous CP is still in progress then, the next one starts at the latest one tick after it completes.
 *   With nothing written, starting an empty CP is allowed, never required.
 * - T2 Fill: a write that finds the active half full starts a CP in the same call (freezing the full
 *   half), unless a CP is still in progress; a CP may also start as soon as the half fills.
 * - N1 Back-pressure: while both halves are full (the active half full and a CP in progress), further
 *   writes stall: neither acknowledged nor failed nor dropped, and counted in `pendingWrites`. When the
 *   CP completes, the full half is frozen for the next CP and stalled writes enter the free half in the
 *   order they arrived.
 * - N2 What a CP holds: CP n's image holds every write logged before the step in which CP n started
 *   and none accepted after that step (the writes of that step may go either way).
 *
 * Acknowledgements (`answerDeadlineTicks` below bounds them all)
 * - A1 sync and strict-sync, in sync: a write is acknowledged only after the destination logged its
 *   entry, so after a message the destination sent having received it (the harness sees the round trip).
 * - A2 strict-sync fails writes while not in sync (out of sync or resyncing); sync acknowledges them
 *   after the local NVLOG alone.
 * - A3 semi-sync: at most `semiSyncMaxLagEntries` writes acknowledged in sync are ever awaiting the
 *   destination's log-ack while in sync; further writes wait. Writes acknowledged while out of sync or
 *   resyncing are not counted: their entries follow the resync.
 * - A4 Every write to a server that stays up is answered (acknowledged or failed) within
 *   `answerDeadlineTicks(spec)` ticks, or `queuedDeadlineTicks` when writes were queued ahead of it.
 *
 * The link
 * - L1 A source goes out of sync only after a fault: within the `ackTimeoutTicks` * 2 ticks before, the
 *   link was partitioned or slowed, lost, dropped, held back or damaged a message (or delivered one
 *   so held back), or the destination was down; never while every message crossed in time and the
 *   destination answered. Once its mirror is lost (D5) it may go out of sync at any time.
 * - L2 A source waiting for an answer that does not come within `ackTimeoutTicks` goes out of sync: A4's
 *   deadline leaves no other way to answer a sync write in a partition.
 * - L3 A resync sends at most: per attempt, the blocks whose contents differ between the mirror's
 *   committed image and the primary's, plus `resyncMetadataBlocks(spec)` blocks of metadata; plus
 *   twice the log entries of the writes whose entries may not have reached the destination when the
 *   source left in sync (unanswered, or with no answer from the destination since they were accepted;
 *   in semi-sync mode `semiSyncMaxLagEntries` more) and of every write accepted since; each block may carry
 *   `MESSAGE_OVERHEAD_BYTES` of framing and each message as much again.
 *
 * - M1 A message whose bytes were corrupted or truncated on the way is rejected, never applied; a
 *   duplicate, or a stale copy delivered again long after (a CP sync of a CP the mirror passed),
 *   changes nothing. Any message may arrive late, after its sender gave up on it.
 *
 * Reads, log files, failover
 * - R1 A read returns the latest acknowledged write to that LBA, or a later write not yet answered. Within
 *   the RAID groups' fault tolerance it must succeed; beyond it, it fails with an error, never wrong data.
 * - R2 A client request for an LBA outside the volume (at or past `lbaCount`) is refused: a read returns
 *   an error, never data; a write is failed (an ack with `ok: false`) within A4's deadline and changes
 *   nothing; neither call throws.
 * - F1 The log file of a source holds its entries in seq order, and every write acknowledged in sync
 *   (sync, strict-sync) that the mirror's committed CP does not hold; it is truncated only up to what the
 *   committed mirror covers. A torn tail is gone after the destination restarts.
 * - F2 Failover promotes the mirror and replays the log file after it: the promoted volume holds every
 *   write acknowledged in sync (sync, strict-sync), and every write acknowledged out of sync that was
 *   accepted before the step in which a resync that then completed began (its transfer covers it).
 * - F3 A log file may be a ring over its `log:<source>` group, and then wraps: the group holds at least
 *   4 * `nvlogHalfEntries` records of two blocks each plus two blocks (harness/presets.ts,
 *   `smallLogFile`), both NVLOG halves twice over, and a schedule may forward more entries than the
 *   group has blocks. F1 and F2 hold across the wrap; a record of an earlier lap is never taken for a
 *   live one, after a restart included.
 *
 * Disks (within each group's tolerance, which the fault atlas keeps, but for D4: one fault for RAID-4,
 *   two for RAID-DP, counting failed disks, spares not yet rebuilt and latent errors not yet repaired)
 * - D1 A latent error is a fault of its group until the block verifies again on its disk (the harness
 *   reads its own disks): a target may repair it when a read meets it, must repair it in a scrub (D3),
 *   and may simply overwrite it. Read-repair is not required, but an unrepaired error keeps counting.
 * - D2 `replaceDisk` rebuilds onto the spare before it returns. A power cut during the rebuild leaves a
 *   spare partly written: the target must not take its blocks as data, and its `restart` finishes the
 *   rebuild (the target must know from its own media that the rebuild did not finish). Once
 *   replaceDisk, or after a cut restart, returned, the group is whole again: the atlas then allows new
 *   faults up to its tolerance, and reads (R1) and the images must stay right through them.
 * - D3 Optional `scrub(node)`: when it returns, every latent error on that node's disks in a block the
 *   target had written is repaired (the block verifies on its disk again); the harness checks the
 *   disks. A target without `scrub` is never asked to scrub.
 * - D4 Past tolerance: the atlas may fail one disk more of a running source's primary group whose
 *   outstanding faults are failed disks at its tolerance (a second for RAID-4, a third for RAID-DP).
 *   That volume is lost for good. Its reads may fail with an error, and data a read does return is
 *   the latest acknowledged write (R1: never wrong data, never zeros for what it cannot read). Its
 *   writes are still answered within A4's deadline: failed, in any mode, or acknowledged as A1-A3
 *   allow (a sync write in sync once the destination logged it). It owes no CP (T1, T2, N1 stop): a
 *   CP it cannot write never commits, and may stay in progress or be given up (`cpInProgress` false,
 *   `primaryCp` unchanged). The harness no longer reads its primary's images, and it takes no other
 *   disk fault, `replaceDisk` or `scrub`. It may lose power; it is never restarted: the operator
 *   fails it over (F2 holds as for any failover), in the liveness phase if the schedule did not.
 * - D5 The same on the destination: the atlas may fail one disk more of a running destination's
 *   `mirror:<source>` group whose outstanding faults are failed disks at its tolerance (a third for
 *   RAID-DP), while that source is neither lost (D4) nor being failed over. That mirror is lost for
 *   good: it commits no CP again (`mirrorCp` stays where it was; a CP sync it cannot write is never
 *   confirmed, so in sync the source cannot complete that CP: it times out, L2, and completes it
 *   unmirrored), it is never failed over, and the harness no longer reads its images. The source
 *   serves on: its writes are answered as A1-A4 say (out of sync, as the mode allows), its CPs
 *   complete, and it may go out of sync at any time (L1). The destination keeps that source's log
 *   file (F1) and serves its other sources as before. It takes no power cut from then on, no other
 *   disk fault, no scrub, and no `replaceDisk` in that source's groups; the relationship never has
 *   to come back in sync (the mirror would need a baseline transfer onto new disks, which the
 *   protocol does not describe).
 * - D6 Power cuts on a degraded node: the atlas may cut a node's power between two calls (never inside
 *   one) while its groups have faults outstanding within tolerance (failed disks, spares not yet
 *   rebuilt, latent errors), but not a destination whose mirror is lost (D5). Its `restart` comes
 *   back on the degraded groups and owes everything it owed (R1, C1-C3, F1-F2 as after any cut): so a
 *   target must end every call with each stripe it wrote consistent with its parity, or recover it
 *   without the missing disks' help. A cut inside a call on a node with a fault outstanding (a crash
 *   after k media writes, a cut rebuild), and a disk fault while such a cut is armed, are never made:
 *   a stripe torn or half-written on a degraded group is the RAID write hole, beyond what RAID claims.
 *
 * Observations
 * - O1 A down source shows `up: false`; its other fields are what its console last showed and are not
 *   judged. A down destination shows `destinationUp: false`.
 * - O2 After failover both the source's and the promoted volume's relationship read 'failed-over'.
 * - O3 `pendingWrites` counts writes received and not yet answered, stalled ones included.
 * - O4 A media write that threw PowerLoss may have landed whole, torn, or not at all: the media decide.
 * - O5 A relationship that changed more than once in one step (out of sync, resyncing, out of sync
 *   again in one tick) shows the states it passed through in `relationshipPath`; acknowledgements of
 *   that step are then judged against every state of the path, in some order. Without a path, the
 *   step is judged as a move straight from the previous observation's state to this one's (along in
 *   sync, out of sync, resyncing, in sync), and an acknowledgement only one excursion allows fails.
 */
/**
 * A4: a write is answered within this many ticks while its server stays up. A stalled write waits for
 * the CP in progress (its confirm, or the timeout), then for its own log-ack (or the timeout).
 */
export function answerDeadlineTicks(spec: WorldSpec): number {
  return spec.cpIntervalTicks + 3 * spec.ackTimeoutTicks + 2;
}

/**
 * A4 under back-pressure: a write with `ahead` writes to the same server still unanswered when it
 * arrived waits besides for them to drain, one NVLOG half per CP, each CP within ackTimeoutTicks + 2.
 */
export function queuedDeadlineTicks(spec: WorldSpec, source: NodeId, ahead: number): number {
  const half = spec.sources.find((s) => s.id === source)?.nvlogHalfEntries ?? 1;
  return answerDeadlineTicks(spec) + Math.ceil(ahead / half) * (spec.ackTimeoutTicks + 2);
}

/**
 * L3: metadata a resync transfer may add to the changed blocks: an LBA map of 8 bytes per LBA, twice
 * (a write-anywhere map moves with every CP, and a resync spans two), four blocks of roots and anchors.
 */
export function resyncMetadataBlocks(spec: WorldSpec, source: SourceSpec): number {
  return 4 + 2 * Math.ceil((source.lbaCount * 8) / spec.blockBytes);
}

/**
 * O5: the relationship states one step passed through, from the one `prev` showed to the one `next`
 * shows, consecutive repeats dropped. A target that gives no `relationshipPath` moved straight.
 */
export function relationshipsOfStep(prev: SourceObservation, next: SourceObservation): RelationshipState[] {
  const out: RelationshipState[] = [prev.relationship];
  const path = next.relationshipPath?.length ? next.relationshipPath : [next.relationship];
  // A path that does not end where the observation does still ends there (the model then refuses it).
  for (const r of [...path, next.relationship]) if (r !== out[out.length - 1]) out.push(r);
  return out;
}

/** L3: framing allowed per block and per message. */
export const MESSAGE_OVERHEAD_BYTES = 128;

/** One running world of servers. Every method is synchronous and deterministic. */
export interface TargetInstance {
  // Inputs.
  clientWrite(source: NodeId, write: ClientWrite): void;
  /** Reads the primary (or, after failover, the promoted mirror) by LBA: the latest acknowledged data. */
  clientRead(source: NodeId, lba: number): ReadResult;
  /** A message the network delivers to `to`. Corrupted or truncated bytes must be rejected, not applied. */
  receive(to: NodeId, from: NodeId, bytes: Uint8Array): void;
  /** One tick of `node`'s clock. */
  tick(node: NodeId): void;
  /** Effects produced since the last call, in the order they were produced. */
  drainEffects(): Effect[];

  // Faults and operator actions. Power is cut by the harness through NodeMedia.power; a media write
  // then throws PowerLoss out of whatever call was running, and the harness calls crash().
  /** The node lost power: forget everything that is not on its media. */
  crash(node: NodeId): void;
  /** Power is back: mount from media, recover (NVLOG replay, torn log tail), reconnect. */
  restart(node: NodeId): void;
  /** The source is lost for good: promote the destination's mirror of it (log replay included). */
  failover(source: NodeId): void;
  /**
   * A failed disk of `group` on `node` was replaced by the blank spare `spare`: rebuild onto it before
   * returning (rule D2; a power cut may interrupt it, and then `restart` finishes it).
   */
  replaceDisk(node: NodeId, group: string, index: number, spare: Disk): void;
  /** Optional (rule D3): scrub every RAID group of `node`, repairing each latent error it finds. */
  scrub?(node: NodeId): void;

  // Observation: cheap enough to call after every step.
  observe(): Observation;
  /** The primary's committed image by LBA (not what is still in memory). */
  readPrimaryCommitted(source: NodeId, lba: number): Uint8Array;
  /** The destination's committed mirror image by LBA. */
  readMirrorCommitted(source: NodeId, lba: number): Uint8Array;
  /**
   * Optional: a whole committed image by LBA (index = LBA), exactly what `readPrimaryCommitted` or
   * `readMirrorCommitted` gives for LBA 0, 1, ... in that order. The harness reads whole images at CP
   * boundaries and at the end of a run; a process target answers in one round trip, not one per LBA.
   * The harness only reads the blocks it is given, so one block may stand for several LBAs (a single
   * zero block for every unwritten LBA, say).
   */
  readCommittedImage?(source: NodeId, side: 'primary' | 'mirror'): Uint8Array[];
  /** The VBNs the committed image uses, on either side, for block-for-block comparison. */
  liveVbns(source: NodeId, side: 'primary' | 'mirror'): number[];
  readVbn(source: NodeId, side: 'primary' | 'mirror', vbn: number): Uint8Array;
  /** Optional: `readVbn` of each of `vbns`, in order, in one call (the comparisons read many at once). */
  readVbns?(source: NodeId, side: 'primary' | 'mirror', vbns: readonly number[]): Uint8Array[];
  /** The destination's log file for `source` as it is on its disks. */
  logFile(source: NodeId): LogRecord[];
  /**
   * Optional: a message `from` sent, in the target's own terms, for the trace and the sequence diagram;
   * null when the bytes are not one of its messages (corrupted, truncated). Without it the trace shows
   * the bytes' length and checksum.
   */
  describeMessage?(bytes: Uint8Array, from: NodeId): MessageDescription | null | undefined;
}

/** A message as its target names it (TargetInstance.describeMessage). */
export interface MessageDescription {
  /** Its kind, e.g. 'log-entry'; the sequence diagram colours the reference's kinds. */
  readonly kind: string;
  /** A CP sync that is a resync transfer (the reference's kinds). */
  readonly resync?: boolean;
  /** One line for the trace. */
  readonly text: string;
}

/** A conformance target: the reference implementation, a canary, or a user's module. */
export interface ConformanceTarget {
  readonly name: string;
  readonly description: string;
  /** 'pass' for a correct implementation; 'fail' for a canary the harness must catch. */
  readonly expected: 'pass' | 'fail';
  /** Boot a world on blank media the harness owns (the target formats them). */
  boot(spec: WorldSpec, media: Readonly<Record<NodeId, NodeMedia>>): TargetInstance;
}
