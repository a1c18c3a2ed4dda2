// The reference implementation as a conformance target: source and destination servers behind the
// same interface any user's implementation offers (harness/target.ts). Messages cross the wire as
// checksummed bytes; a frame that fails to decode is dropped, never applied. Canary variations (each
// one deliberate bug) are built from the same code with one flag set.

import type { Disk } from '../harness/media/disk.ts';
import type {
  ConformanceTarget,
  Effect,
  MessageDescription,
  NodeId,
  NodeMedia,
  Observation,
  ReadResult,
  SourceObservation,
  TargetInstance,
  WorldSpec,
} from '../harness/target.ts';
import { type DestinationConfig, DestinationServer } from './destination_server.ts';
import { type SourceConfig, SourceServer } from './source_server.ts';
import { decodeMessage, describeMessage, encodeMessage, WireError } from './wire.ts';

export const DESTINATION_ID = 'dst';

/** One deliberate bug each; all off is the reference implementation. */
export interface Variation {
  /** The prior art: VBN updates written at the source's disk block numbers, bypassing the destination's RAID. */
  readonly applyByDiskBlockNumber?: boolean;
  /** Store-and-forward: no CP sync; the destination applies its log file on its own timer. */
  readonly storeAndForward?: boolean;
  /** Sync writes acknowledged before the destination logged them. */
  readonly ackBeforeMirror?: boolean;
  /** Failover promotes the mirror without replaying the log file. */
  readonly failoverWithoutReplay?: boolean;
  /** Blocks freed in a CP reused within that same CP. */
  readonly reuseFreedBeforeCommit?: boolean;
  // Deviations: each breaks exactly one rule of harness/target.ts (named first).
  /** T1: the CP timer never starts a CP; only a full NVLOG half (and recovery, resync) does. */
  readonly cpTimerNeverFires?: boolean;
  /** A3: semi-sync writes acknowledged at once, never waiting for the lag bound. */
  readonly semiSyncUnboundedLag?: boolean;
  /** L3: every resync sends every live block instead of the blocks changed since the mirror's CP. */
  readonly resyncSendsWholeVolume?: boolean;
  /** R1: client reads of a source always fail. */
  readonly readsFail?: boolean;
  /** L1: a source in sync goes out of sync every 7th tick of its clock with no fault. */
  readonly spuriousOutOfSync?: boolean;
  /** N1: with both NVLOG halves full a write fails ('NVLOG full') instead of stalling. */
  readonly nvlogFullFailsWrites?: boolean;
  /** T2: a write finding the active NVLOG half full starts no CP; it stalls until the timer's CP. */
  readonly noCpOnFullHalf?: boolean;
  /** L2/A4: a source never goes out of sync on a timeout. */
  readonly timeoutNeverFires?: boolean;
  /** F1: the destination truncates the log file as a CP sync arrives, before the mirror committed it. */
  readonly truncateLogEarly?: boolean;
  /** N2: a CP's image leaves out the last write logged before it (carried to the next CP). */
  readonly cpImageEarlyCut?: boolean;
  /** R2: a client LBA past the end of the volume wraps around (taken modulo the volume's LBAs). */
  readonly wrapOutOfRangeLbas?: boolean;
  // Time faults (a paused or drifting node): exposed by nothing else.
  /**
   * L2/T1 (time): while the destination is up, a source's timers advance only when the destination's
   * clock ticks (held ticks run at its next tick), as if timed by the peer's heartbeat.
   */
  readonly sourceTimersOnPeerClock?: boolean;
  // Faults of single messages (harness/sim_network.ts MessageFault): each exposes one of these.
  /** Frames are decoded without verifying their checksum: a corrupted byte is taken as data. */
  readonly skipFrameChecksum?: boolean;
  /** The destination applies a CP sync for a CP its mirror already passed (a stale copy). */
  readonly applyStaleCpSync?: boolean;
  // Crash ordering (harness/crash_points.ts finds it at once).
  /** The destination writes a CP sync's root before the blocks it points to. */
  readonly rootFirst?: boolean;
  // Workloads (harness/write_contents.ts): each exposed only by data that real workloads have.
  /** The source dedups writes by a fingerprint of each block's first 64 bytes, never comparing the rest. */
  readonly dedupWeakFingerprint?: boolean;
  /** The source treats an all-zero write as a hole: logged and forwarded, but its volume keeps the old block. */
  readonly zeroWriteAsHole?: boolean;
  /** The log file's recovery takes a record of an earlier lap of the ring for the next one (epoch and checksum only). */
  readonly logTrustsStaleLap?: boolean;
  // Disks (rules D1-D6 of harness/target.ts).
  /** D3: a scrub reads nothing and repairs nothing. */
  readonly scrubRepairsNothing?: boolean;
  /** D2: a source labels a spare an in-sync member of its primary before rebuilding onto it. */
  readonly labelSpareFirst?: boolean;
  /** D4: a read its RAID group refuses (past its tolerance) returns a zero block, as a hole would. */
  readonly lostBlocksReadAsZeros?: boolean;
  /** D4/A4: a source whose primary went offline stalls writes, waiting for a CP that cannot come. */
  readonly stallWritesWhenLost?: boolean;
  /** D5/C2: the destination confirms a CP sync its mirror, past its tolerance, could not write. */
  readonly confirmLostMirror?: boolean;
  /** D6: a source restarting on a degraded primary recomputes parity over its missing data disk. */
  readonly resyncOverMissing?: boolean;
}

export function referenceTarget(
  name = 'reference',
  description = 'the reference implementation',
  variation: Variation = {},
  expected: 'pass' | 'fail' = 'pass',
): ConformanceTarget {
  return {
    name,
    description,
    expected,
    boot: (spec, media) => new ReferenceWorld(spec, media, variation),
  };
}

class ReferenceWorld implements TargetInstance {
  private readonly spec: WorldSpec;
  private readonly media: Readonly<Record<NodeId, NodeMedia>>;
  private readonly variation: Variation;
  private readonly sources = new Map<NodeId, SourceServer>();
  private destination: DestinationServer | null;
  private effects: Effect[] = [];
  /** The last values seen while a server was up: what an operator's console still shows when it is down. */
  private readonly lastSeen = new Map<NodeId, { primaryCp: number; mirrorCp: number; promoted: boolean }>();
  /** Frames dropped because they did not decode: corrupted or truncated on the way. */
  rejectedFrames = 0;
  /** Source ticks waiting for the destination's (Variation.sourceTimersOnPeerClock only). */
  private readonly heldSourceTicks = new Map<NodeId, number>();

  constructor(spec: WorldSpec, media: Readonly<Record<NodeId, NodeMedia>>, variation: Variation) {
    this.spec = spec;
    this.media = media;
    this.variation = variation;
    for (const s of spec.sources)
      this.sources.set(s.id, SourceServer.format(this.sourceConfig(s.id), this.sourceMedia(s.id)));
    this.destination = DestinationServer.format(this.destinationConfig(), this.media[DESTINATION_ID]!);
    for (const s of spec.sources) this.lastSeen.set(s.id, { primaryCp: 0, mirrorCp: 0, promoted: false });
  }

  clientWrite(source: NodeId, write: { writeId: number; lba: number; data: Uint8Array }): void {
    // CANARY (R2): an LBA past the end lands inside the volume instead of being refused.
    if (this.variation.wrapOutOfRangeLbas) write = { ...write, lba: this.wrapped(source, write.lba) };
    if (this.promoted(source)) this.destination!.clientWrite(source, write.writeId, write.lba, write.data);
    else this.sourceServer(source).clientWrite(write.writeId, write.lba, write.data);
    this.collect();
  }

  clientRead(source: NodeId, lba: number): ReadResult {
    if (this.variation.wrapOutOfRangeLbas) lba = this.wrapped(source, lba);
    try {
      const data = this.promoted(source)
        ? this.destination!.clientRead(source, lba)
        : this.sourceServer(source).clientRead(lba);
      return { ok: true, data };
    } catch (e) {
      // CANARY (D4): a block RAID cannot give back is served as zeros, as if never written.
      if (this.variation.lostBlocksReadAsZeros && e instanceof Error && e.name === 'RaidFailure')
        return { ok: true, data: new Uint8Array(this.spec.blockBytes) };
      if (e instanceof RangeError || (e instanceof Error && e.name === 'RaidFailure'))
        return { ok: false, error: e.message };
      throw e;
    }
  }

  receive(to: NodeId, from: NodeId, bytes: Uint8Array): void {
    const message = decodeMessage(bytes, this.variation.skipFrameChecksum === true);
    if (message instanceof WireError) {
      this.rejectedFrames++;
      return;
    }
    if (to === DESTINATION_ID) this.destination?.receive(from, message);
    else this.sources.get(to)?.receive(message);
    this.collect();
  }

  tick(node: NodeId): void {
    // CANARY (time): a source's tick waits for the destination's; the world ticks sources first, so
    // with every clock running this changes nothing, and a paused destination stops the source's timers.
    if (this.variation.sourceTimersOnPeerClock && node !== DESTINATION_ID && this.destination !== null) {
      this.heldSourceTicks.set(node, (this.heldSourceTicks.get(node) ?? 0) + 1);
      return;
    }
    if (node === DESTINATION_ID) this.destination?.tick();
    else this.sources.get(node)?.tick();
    if (node === DESTINATION_ID)
      for (const [id, held] of this.heldSourceTicks) {
        this.heldSourceTicks.delete(id);
        for (let i = 0; i < held; i++) this.sources.get(id)?.tick();
      }
    this.collect();
  }

  drainEffects(): Effect[] {
    this.collect();
    const out = this.effects;
    this.effects = [];
    return out;
  }

  crash(node: NodeId): void {
    // Memory is gone; only the media remain. Effects not yet drained were never sent.
    this.remember();
    if (node === DESTINATION_ID) this.destination = null;
    else this.sources.delete(node);
  }

  restart(node: NodeId): void {
    if (node === DESTINATION_ID)
      this.destination = DestinationServer.recover(this.destinationConfig(), this.media[node]!);
    else this.sources.set(node, SourceServer.recover(this.sourceConfig(node), this.sourceMedia(node)));
    this.collect();
  }

  failover(source: NodeId): void {
    if (!this.destination) throw new Error('failover needs the destination up');
    this.destination.failover(source);
    this.remember();
    this.collect();
  }

  replaceDisk(node: NodeId, group: string, index: number, spare: Disk): void {
    if (node === DESTINATION_ID) this.destination?.replaceDisk(group, index, spare);
    else this.sources.get(node)?.replaceDisk(index, spare);
  }

  scrub(node: NodeId): void {
    // CANARY (D3): scrubRepairsNothing returns at once, every latent error left where it is.
    if (this.variation.scrubRepairsNothing) return;
    if (node === DESTINATION_ID) this.destination?.scrub();
    else this.sources.get(node)?.scrub();
  }

  observe(): Observation {
    this.remember();
    const sources: Record<NodeId, SourceObservation> = {};
    for (const s of this.spec.sources) {
      const server = this.sources.get(s.id);
      const seen = this.lastSeen.get(s.id)!;
      sources[s.id] = {
        up: server !== undefined,
        relationship: seen.promoted ? 'failed-over' : server ? server.relationshipState : 'out-of-sync',
        primaryCp: seen.primaryCp,
        mirrorCp: seen.mirrorCp,
        cpInProgress: server?.cpInProgress ?? false,
        pendingWrites: server?.pendingWrites ?? 0,
      };
    }
    return { destinationUp: this.destination !== null, sources };
  }

  readPrimaryCommitted(source: NodeId, lba: number): Uint8Array {
    return this.sourceServer(source).readCommitted(lba);
  }

  readMirrorCommitted(source: NodeId, lba: number): Uint8Array {
    return this.dst().readCommitted(source, lba);
  }

  readCommittedImage(source: NodeId, side: 'primary' | 'mirror'): Uint8Array[] {
    return side === 'primary'
      ? this.sourceServer(source).readCommittedImage()
      : this.dst().readCommittedImage(source);
  }

  liveVbns(source: NodeId, side: 'primary' | 'mirror'): number[] {
    return side === 'primary' ? this.sourceServer(source).liveVbns() : this.dst().liveVbns(source);
  }

  readVbn(source: NodeId, side: 'primary' | 'mirror', vbn: number): Uint8Array {
    return side === 'primary' ? this.sourceServer(source).readVbn(vbn) : this.dst().readVbn(source, vbn);
  }

  readVbns(source: NodeId, side: 'primary' | 'mirror', vbns: readonly number[]): Uint8Array[] {
    return side === 'primary' ? this.sourceServer(source).readVbns(vbns) : this.dst().readVbns(source, vbns);
  }

  logFile(source: NodeId) {
    return this.dst()
      .logRecords(source)
      .map((r) => ({ source, seq: r.seq, lba: r.lba, data: r.data }));
  }

  /** The trace names the reference's messages in its wire format's terms (harness/world.ts). */
  describeMessage(bytes: Uint8Array): MessageDescription | null {
    return describeReferenceFrame(bytes);
  }

  private remember(): void {
    for (const s of this.spec.sources) {
      const seen = this.lastSeen.get(s.id)!;
      const server = this.sources.get(s.id);
      if (server) seen.primaryCp = server.committedCp;
      if (this.destination) {
        seen.mirrorCp = this.destination.mirrorCp(s.id);
        seen.promoted = this.destination.isPromoted(s.id);
      }
    }
  }

  private wrapped(source: NodeId, lba: number): number {
    return lba % this.sourceConfig(source).lbaCount;
  }

  private promoted(source: NodeId): boolean {
    return this.destination?.isPromoted(source) ?? this.lastSeen.get(source)?.promoted ?? false;
  }

  private collect(): void {
    for (const [id, server] of this.sources)
      for (const e of server.takeEffects())
        this.effects.push(
          e.kind === 'send'
            ? { kind: 'send', from: id, to: DESTINATION_ID, bytes: encodeMessage(e.message) }
            : { ...e, node: id },
        );
    if (!this.destination) return;
    for (const e of this.destination.takeEffects())
      this.effects.push(
        e.kind === 'send'
          ? { kind: 'send', from: DESTINATION_ID, to: e.to, bytes: encodeMessage(e.message) }
          : { ...e, node: DESTINATION_ID },
      );
  }

  private sourceServer(id: NodeId): SourceServer {
    const server = this.sources.get(id);
    if (!server) throw new RangeError(`source ${id} is down`);
    return server;
  }

  private dst(): DestinationServer {
    if (!this.destination) throw new RangeError('the destination is down');
    return this.destination;
  }

  private sourceConfig(id: NodeId): SourceConfig {
    const s = this.spec.sources.find((x) => x.id === id);
    if (!s) throw new RangeError(`no source '${id}' in this world`);
    return {
      id,
      mode: s.mode,
      lbaCount: s.lbaCount,
      geometry: s.primary,
      cpIntervalTicks: this.spec.cpIntervalTicks,
      ackTimeoutTicks: this.spec.ackTimeoutTicks,
      semiSyncMaxLagEntries: this.spec.semiSyncMaxLagEntries,
      nvlogHalfEntries: s.nvlogHalfEntries,
      unsafeAckBeforeMirror: this.variation.ackBeforeMirror === true,
      unsafeReuseFreedBeforeCommit: this.variation.reuseFreedBeforeCommit === true,
      unsafeCpTimerNeverFires: this.variation.cpTimerNeverFires === true,
      unsafeSemiSyncUnboundedLag: this.variation.semiSyncUnboundedLag === true,
      unsafeResyncSendsWholeVolume: this.variation.resyncSendsWholeVolume === true,
      unsafeReadsFail: this.variation.readsFail === true,
      unsafeSpuriousOutOfSync: this.variation.spuriousOutOfSync === true,
      unsafeLabelSpareFirst: this.variation.labelSpareFirst === true,
      unsafeResyncOverMissing: this.variation.resyncOverMissing === true,
      unsafeStallWhenOffline: this.variation.stallWritesWhenLost === true,
      unsafeNvlogFullFailsWrites: this.variation.nvlogFullFailsWrites === true,
      unsafeNoCpOnFullHalf: this.variation.noCpOnFullHalf === true,
      unsafeTimeoutNeverFires: this.variation.timeoutNeverFires === true,
      unsafeCpImageEarlyCut: this.variation.cpImageEarlyCut === true,
      ...(this.variation.dedupWeakFingerprint ? { unsafeDedupWeakFingerprint: true } : {}),
      ...(this.variation.zeroWriteAsHole ? { unsafeZeroWriteAsHole: true } : {}),
    };
  }

  private sourceMedia(id: NodeId) {
    const m = this.media[id];
    if (!m?.nvram || !m.groups.primary) throw new RangeError(`source '${id}' has no NVRAM or primary group`);
    return { nvram: m.nvram, disks: m.groups.primary };
  }

  private destinationConfig(): DestinationConfig {
    const v = this.variation;
    return {
      id: DESTINATION_ID,
      cpIntervalTicks: this.spec.cpIntervalTicks,
      mirrors: this.spec.sources.map((s) => ({
        source: s.id,
        lbaCount: s.lbaCount,
        mirror: s.mirror,
        logFile: s.logFile,
      })),
      ...(v.applyByDiskBlockNumber
        ? {
            unsafeApplyByDbn: {
              sourceGeometry: Object.fromEntries(this.spec.sources.map((s) => [s.id, s.primary])),
            },
          }
        : {}),
      ...(v.failoverWithoutReplay ? { unsafeFailoverWithoutReplay: true } : {}),
      ...(v.storeAndForward ? { unsafeStoreAndForward: true } : {}),
      ...(v.truncateLogEarly ? { unsafeTruncateLogEarly: true } : {}),
      ...(v.applyStaleCpSync ? { unsafeApplyStaleCpSync: true } : {}),
      ...(v.rootFirst ? { unsafeRootFirst: true } : {}),
      ...(v.logTrustsStaleLap ? { unsafeLogTrustsStaleLap: true } : {}),
      ...(v.confirmLostMirror ? { unsafeConfirmLostMirror: true } : {}),
    };
  }
}

/** A frame of the reference's wire format as the trace shows it; null when it does not decode. */
export function describeReferenceFrame(bytes: Uint8Array): MessageDescription | null {
  const m = decodeMessage(bytes);
  if (m instanceof WireError) return null;
  return { kind: m.kind, resync: m.kind === 'cp-sync' && m.resync, text: describeMessage(m) };
}
