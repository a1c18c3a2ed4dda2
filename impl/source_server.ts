// The source storage server: logs client writes in its NVLOG, forwards them, acknowledges per mode,
// runs CPs and their CP sync phase, detects a lost link, resynchronises incrementally, recovers after
// a crash. Sans-I/O: inputs in (writes, reads, messages, ticks), effects out; media are handed to it.
// Fault model: a power cut may fall after any media write of any method (PowerLoss propagates out and
// the caller discards this object); see docs/reference-protocol.md for why each step is ordered so.

import { checksum } from '../harness/media/checksum.ts';
import type { Disk } from '../harness/media/disk.ts';
import { assert } from '../harness/media/errors.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import type { Nvram } from '../harness/media/nvram.ts';
import { RaidFailure } from './errors.ts';
import { Nvlog } from './nvlog.ts';
import { assembleRaidGroup, type RaidGroup } from './raid.ts';
import { Volume } from './volume.ts';
import type { Message } from './wire.ts';

export type Mode = 'sync' | 'strict-sync' | 'semi-sync';
export type SourceRelationship = 'in-sync' | 'out-of-sync' | 'resyncing' | 'failed-over';

export interface SourceConfig {
  readonly id: string;
  readonly mode: Mode;
  readonly lbaCount: number;
  readonly geometry: RaidGeometry;
  readonly cpIntervalTicks: number;
  readonly ackTimeoutTicks: number;
  readonly semiSyncMaxLagEntries: number;
  /** Entries an NVLOG half holds (the world's `nvlogHalfEntries`). */
  readonly nvlogHalfEntries?: number;
  /** Deliberate bug for canary targets: acknowledge sync writes before the destination logged them. */
  readonly unsafeAckBeforeMirror?: boolean;
  /** Deliberate bug for canary targets: reuse blocks freed in a CP within that same CP. */
  readonly unsafeReuseFreedBeforeCommit?: boolean;
  /** Deliberate bug for canary targets (rule T1): the CP timer never starts a CP. */
  readonly unsafeCpTimerNeverFires?: boolean;
  /** Deliberate bug for canary targets (rule A3): semi-sync writes acknowledged at once, lag unbounded. */
  readonly unsafeSemiSyncUnboundedLag?: boolean;
  /** Deliberate bug for canary targets (rule L3): every resync sends every live block. */
  readonly unsafeResyncSendsWholeVolume?: boolean;
  /** Deliberate bug for canary targets (rule R1): every client read fails. */
  readonly unsafeReadsFail?: boolean;
  /** Deliberate bug for canary targets (rule L1): in sync, goes out of sync every 7th tick, no fault needed. */
  readonly unsafeSpuriousOutOfSync?: boolean;
  /** Deliberate bug for canary targets (rule D2): a spare is labelled in sync before it is rebuilt. */
  readonly unsafeLabelSpareFirst?: boolean;
  /** Deliberate bug for canary targets (rule D6): the restart's parity resync recomputes stripes with a data disk missing. */
  readonly unsafeResyncOverMissing?: boolean;
  /** Deliberate bug for canary targets (rules D4, A4): an offline volume stalls writes instead of failing them. */
  readonly unsafeStallWhenOffline?: boolean;
  /** Deliberate bug for canary targets (rule N1): with both NVLOG halves full, a write fails instead of stalling. */
  readonly unsafeNvlogFullFailsWrites?: boolean;
  /** Deliberate bug for canary targets (rule T2): a write finding the active half full starts no CP. */
  readonly unsafeNoCpOnFullHalf?: boolean;
  /** Deliberate bug for canary targets (rules L2, A4): never goes out of sync on a timeout. */
  readonly unsafeTimeoutNeverFires?: boolean;
  /** Deliberate bug for canary targets (rule N2): a CP's image leaves out the last write logged before it. */
  readonly unsafeCpImageEarlyCut?: boolean;
  /** Deliberate bug for canary targets (rule R1): writes deduplicated by a fingerprint of their first 64 bytes. */
  readonly unsafeDedupWeakFingerprint?: boolean;
  /** Deliberate bug for canary targets (rule R1): an all-zero write leaves the volume's old block in place. */
  readonly unsafeZeroWriteAsHole?: boolean;
}

export interface SourceMedia {
  readonly nvram: Nvram;
  readonly disks: Disk[];
}

export type SourceEffect =
  | { readonly kind: 'send'; readonly message: Message }
  | { readonly kind: 'ack'; readonly writeId: number; readonly ok: boolean; readonly error?: string };

interface PendingWrite {
  readonly writeId: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

/** A CP sync sent and not yet confirmed: at most one at a time (the frozen NVLOG half waits for it). */
interface AwaitedCp {
  readonly cpNumber: number;
  readonly coveredSeq: number;
  readonly resync: boolean;
}

export class SourceServer {
  readonly config: SourceConfig;
  private readonly raid: RaidGroup;
  private readonly volume: Volume;
  private nvlog: Nvlog;
  private readonly media: SourceMedia;
  private effects: SourceEffect[] = [];
  private relationship: SourceRelationship;
  private nextSeq: number;
  /** The highest seq forwarded to the destination, and the highest it acknowledged. */
  private sentSeq: number;
  private ackedSeq: number;
  /** Writes in the NVLOG whose client still waits for the destination's log-ack, by seq. */
  private readonly waiting = new Map<number, number>();
  /** Writes that could not enter the NVLOG (both halves busy): back-pressure, in arrival order. */
  private readonly stalled: PendingWrite[] = [];
  private awaited: AwaitedCp | null = null;
  private nowTick = 0;
  private lastCpTick = 0;
  /** When the oldest request still unanswered was sent, or answered last: null when nothing waits. */
  /** When each log entry still unacknowledged was first forwarded, by seq (in seq order). */
  private readonly forwardedAt = new Map<number, number>();
  /** When the CP sync or resync transfer awaited was sent; null when none is. */
  private awaitedSinceTick: number | null = null;
  private lastHelloTick = 0;
  /** The last hello sent: only a reply to it is acted on (rule M1: any message may arrive late). */
  private helloSeq = 0;
  private helloCp = -1;
  /** unsafeCpImageEarlyCut only: the last write logged, and what its LBA read before it. */
  private lastLogged: { seq: number; lba: number; data: Uint8Array; before: Uint8Array } | null = null;
  /**
   * Why the primary is offline, null while it serves: its RAID group lost more disks than it tolerates
   * (harness/target.ts rule D4), found by the first CP, resync or pin that needed it. Offline is for
   * good: no CP, hello or resync again, and new writes fail at once. Writes already logged and
   * forwarded are still answered by the destination's log-acks, or by a timeout as ever: their entries
   * are in its log file, which a failover replays.
   */
  private offline: string | null = null;
  /** unsafeDedupWeakFingerprint only: the first block seen with each fingerprint. */
  private readonly dedupIndex = new Map<number, Uint8Array>();

  private constructor(
    config: SourceConfig,
    media: SourceMedia,
    raid: RaidGroup,
    volume: Volume,
    nvlog: Nvlog,
  ) {
    this.config = config;
    this.media = media;
    this.raid = raid;
    this.volume = volume;
    this.nvlog = nvlog;
    this.nextSeq = Math.max(nvlog.lastSeq, volume.coveredSeq) + 1;
    this.sentSeq = this.nextSeq - 1;
    this.ackedSeq = this.nextSeq - 1;
    this.relationship = 'in-sync';
  }

  /** A new source on blank media: formats the volume (CP 0, the same image the mirror starts from). */
  static format(config: SourceConfig, media: SourceMedia): SourceServer {
    const raid = assembleRaidGroup(config.geometry, media.disks);
    const volume = Volume.format(raid, { lbaCount: config.lbaCount, ...volumeOptions(config) });
    const nvlog = Nvlog.format(media.nvram, nvlogOptions(config));
    return new SourceServer(config, media, raid, volume, nvlog);
  }

  /**
   * Restart after a power cut: parity resync (a cut may have left a stripe's parity stale; a rebuild
   * the cut interrupted, which the disks' labels show, is finished first), mount the newest valid
   * root, pin the images the mirror may hold, replay the NVLOG entries after the root's coveredSeq,
   * commit them in a recovery CP, clear the NVLOG, and ask the destination where it stands.
   */
  static recover(config: SourceConfig, media: SourceMedia): SourceServer {
    const raid = assembleRaidGroup(config.geometry, media.disks);
    raid.resyncParity({ unsafeOverMissing: config.unsafeResyncOverMissing === true });
    const volume = Volume.mount(raid, volumeOptions(config));
    const recovered = Nvlog.recover(media.nvram, nvlogOptions(config));
    volume.pinBaseImages();
    for (const e of recovered.entriesAfter(volume.coveredSeq)) volume.write(e.lba, e.data);
    const lastSeq = Math.max(recovered.lastSeq, volume.coveredSeq);
    volume.cp(lastSeq);
    // Every entry is now covered by a committed root: an empty log is the same log.
    const nvlog = Nvlog.format(media.nvram, nvlogOptions(config));
    const server = new SourceServer(config, media, raid, volume, nvlog);
    server.nextSeq = lastSeq + 1;
    server.sentSeq = lastSeq;
    server.ackedSeq = lastSeq;
    server.relationship = 'out-of-sync';
    server.sendHello();
    return server;
  }

  takeEffects(): SourceEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  // Client requests.

  clientWrite(writeId: number, lba: number, data: Uint8Array): void {
    if (!Number.isInteger(lba) || lba < 0 || lba >= this.config.lbaCount)
      return this.answer(writeId, false, `LBA ${lba} outside the volume (0..${this.config.lbaCount - 1})`);
    const write = { writeId, lba, data: this.config.unsafeDedupWeakFingerprint ? this.dedup(data) : data };
    if (this.offline !== null) return this.refuseOffline(write);
    // Later writes queue behind stalled ones: a client sees its writes applied in the order it sent them.
    if (this.stalled.length > 0) {
      this.stalled.push(write);
      return;
    }
    // A CP the write starts may find the volume offline: the write, not yet logged, fails with it.
    const accepted = this.unlessOffline(() => this.accept(write));
    if (accepted === undefined) return this.refuseOffline(write);
    if (accepted) return;
    // CANARY (N1): both halves full: fail the write instead of stalling it (back-pressure).
    if (this.config.unsafeNvlogFullFailsWrites) return this.answer(writeId, false, 'NVLOG full');
    this.stalled.push(write);
  }

  /**
   * CANARY (R1): inline deduplication keyed by a fingerprint of the block's first 64 bytes, with no
   * comparison of the rest: a block that differs from an earlier one only further on becomes that one.
   */
  private dedup(data: Uint8Array): Uint8Array {
    const key = checksum(data.subarray(0, 64));
    const seen = this.dedupIndex.get(key);
    if (seen) return seen;
    this.dedupIndex.set(key, data);
    return data;
  }

  clientRead(lba: number): Uint8Array {
    if (!Number.isInteger(lba) || lba < 0 || lba >= this.config.lbaCount)
      throw new RangeError(`LBA ${lba} outside the volume (0..${this.config.lbaCount - 1})`);
    // CANARY (R1): every read fails; reference_target turns the RangeError into { ok: false }.
    if (this.config.unsafeReadsFail) throw new RangeError('canary: reads always fail');
    return this.volume.read(lba);
  }

  // Messages.

  receive(m: Message): void {
    this.unlessOffline(() => this.handle(m));
  }

  private handle(m: Message): void {
    if (m.source !== this.config.id) return; // Not for this relationship: a misrouted message is ignored.
    switch (m.kind) {
      case 'log-ack':
        return this.onLogAck(m.seq);
      case 'cp-confirm':
        return this.onCpConfirm(m.cpNumber);
      case 'hello-reply':
        // A reply to an earlier hello says where the mirror was then; it may have committed a
        // transfer since, and a resync planned on it would be computed against the wrong image.
        if (m.helloSeq !== this.helloSeq || m.helloCp !== this.helloCp) return;
        return this.onHelloReply(m.lastCommittedCp);
      case 'reject':
        if (m.permanent) this.fence(m.reason);
        return;
      default:
        return; // log-entry, cp-sync and hello flow the other way; a source ignores them.
    }
  }

  tick(): void {
    this.nowTick++;
    if (this.relationship === 'failed-over') return;
    this.unlessOffline(() => this.tickServing());
  }

  /**
   * Runs `f`; a RaidFailure out of it takes the volume offline (D4) and gives undefined. RAID refuses
   * only past its tolerance, so nothing it throws is retried.
   */
  private unlessOffline<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof RaidFailure)) throw e;
      this.goOffline(e.message);
      return undefined;
    }
  }

  private goOffline(reason: string): void {
    this.offline ??= reason;
    // Stalled writes were never logged: they fail now rather than wait for a CP that cannot come.
    // CANARY (D4/A4): unsafeStallWhenOffline leaves them waiting for it.
    if (this.config.unsafeStallWhenOffline) return;
    for (const w of this.stalled.splice(0)) this.answer(w.writeId, false, `volume offline: ${reason}`);
  }

  /** A write an offline volume cannot take: it fails (or, for the canary, waits forever). */
  private refuseOffline(write: PendingWrite): void {
    if (this.config.unsafeStallWhenOffline) {
      this.stalled.push(write);
      return;
    }
    this.answer(write.writeId, false, `volume offline: ${this.offline}`);
  }

  private tickServing(): void {
    // CANARY (L2/A4): unsafeTimeoutNeverFires never gives up waiting for an answer.
    if (this.relationship !== 'out-of-sync' && !this.config.unsafeTimeoutNeverFires && this.timedOut())
      this.goOutOfSync();
    // CANARY (L1): in sync, out of sync every 7th tick of this clock with no fault at all.
    if (this.config.unsafeSpuriousOutOfSync && this.relationship === 'in-sync' && this.nowTick % 7 === 0)
      this.goOutOfSync();
    if (this.offline !== null) return; // No hello, resync or CP can use an offline volume.
    if (
      this.relationship === 'out-of-sync' &&
      this.nowTick - this.lastHelloTick >= this.config.ackTimeoutTicks
    )
      this.sendHello();
    // CANARY (T1): unsafeCpTimerNeverFires leaves CPs to a full NVLOG half (and recovery, resync).
    if (!this.config.unsafeCpTimerNeverFires && this.nowTick - this.lastCpTick >= this.config.cpIntervalTicks)
      this.startCp();
    this.drainStalled();
  }

  replaceDisk(index: number, spare: Disk): void {
    this.media.disks[index] = spare;
    this.raid.replaceAndRebuild(index, spare, {
      unsafeLabelFirst: this.config.unsafeLabelSpareFirst === true,
    });
  }

  /** The primary group's scrub: every latent error found is rewritten from parity. */
  scrub(): number {
    return this.raid.scrub();
  }

  // Observation.

  get relationshipState(): SourceRelationship {
    return this.relationship;
  }

  get committedCp(): number {
    return this.volume.cpNumber;
  }

  get cpInProgress(): boolean {
    return this.awaited !== null;
  }

  get pendingWrites(): number {
    return this.waiting.size + this.stalled.length;
  }

  readCommitted(lba: number): Uint8Array {
    return this.volume.readCommitted(lba);
  }

  readCommittedImage(): Uint8Array[] {
    return this.volume.readCommittedImage();
  }

  liveVbns(): number[] {
    return this.volume.liveVbns();
  }

  readVbn(vbn: number): Uint8Array {
    return this.volume.readVbn(vbn);
  }

  readVbns(vbns: readonly number[]): Uint8Array[] {
    return this.volume.readVbns(vbns);
  }

  // Writes.

  /** Logs, applies and forwards one write; false when the NVLOG has no room (the write must wait). */
  private accept(w: PendingWrite): boolean {
    if (this.relationship === 'failed-over') {
      this.answer(
        w.writeId,
        false,
        'the relationship was failed over: this source no longer serves the volume',
      );
      return true;
    }
    if (this.config.mode === 'strict-sync' && this.relationship !== 'in-sync') {
      this.answer(w.writeId, false, `strict-sync: relationship is ${this.relationship}, write refused`);
      return true;
    }
    const seq = this.nextSeq;
    if (!this.nvlog.append(seq, w.lba, w.data)) {
      // The active half is full: that starts a CP, whose fresh half takes the write, unless the other
      // half is still frozen by an unconfirmed CP; then the write waits (back-pressure, never dropped).
      // CANARY (T2): unsafeNoCpOnFullHalf stalls the write until the timer's CP instead.
      if (this.config.unsafeNoCpOnFullHalf) return false;
      if (!this.startCp() || !this.nvlog.append(seq, w.lba, w.data)) return false;
    }
    this.nextSeq++;
    if (this.config.unsafeCpImageEarlyCut)
      this.lastLogged = { seq, lba: w.lba, data: w.data, before: this.volume.read(w.lba) };
    // CANARY (R1): unsafeZeroWriteAsHole skips an all-zero block, as if zeros were a hole already there.
    if (!this.config.unsafeZeroWriteAsHole || w.data.some((b) => b !== 0)) this.volume.write(w.lba, w.data);
    if (this.relationship !== 'in-sync') {
      // Out of sync or resyncing: acknowledged after the local NVLOG alone (strict-sync refused above).
      this.answer(w.writeId, true);
      return true;
    }
    this.forward(seq, w.lba, w.data);
    const lag = seq - this.ackedSeq;
    const mustWait =
      this.config.mode === 'semi-sync'
        ? // CANARY (A3): unsafeSemiSyncUnboundedLag never waits for the lag bound.
          !this.config.unsafeSemiSyncUnboundedLag && lag > this.config.semiSyncMaxLagEntries
        : !this.config.unsafeAckBeforeMirror;
    if (mustWait) this.waiting.set(seq, w.writeId);
    else this.answer(w.writeId, true);
    return true;
  }

  private forward(seq: number, lba: number, data: Uint8Array): void {
    this.send({ kind: 'log-entry', source: this.config.id, seq, lba, data, entrySum: checksum(data) });
    this.sentSeq = Math.max(this.sentSeq, seq);
    if (!this.forwardedAt.has(seq)) this.forwardedAt.set(seq, this.nowTick);
  }

  private drainStalled(): void {
    while (this.stalled.length > 0 && this.accept(this.stalled[0]!)) this.stalled.shift();
  }

  private onLogAck(seq: number): void {
    if (this.relationship === 'out-of-sync' || seq <= this.ackedSeq) return;
    this.ackedSeq = Math.min(seq, this.sentSeq);
    for (const [waitingSeq, writeId] of this.waiting) {
      if (waitingSeq > this.ackedSeq) continue;
      this.waiting.delete(waitingSeq);
      this.answer(writeId, true);
    }
    for (const seqSent of this.forwardedAt.keys()) {
      if (seqSent > this.ackedSeq) break;
      this.forwardedAt.delete(seqSent);
    }
  }

  // Consistency points.

  /**
   * Starts CP n: freeze the active NVLOG half, write data and metadata, then the source's own root;
   * in sync, ship the VBN updates and keep the frozen half until the destination confirms. False when
   * a CP is still unconfirmed (at most one is).
   */
  private startCp(): boolean {
    if (this.awaited !== null || this.relationship === 'failed-over' || this.offline !== null) return false;
    const earlyCut = this.config.unsafeCpImageEarlyCut === true;
    if (!earlyCut) {
      const frozen = this.nvlog.freeze();
      assert(frozen, 'source: with no CP unconfirmed, the other NVLOG half is free');
    }
    // CANARY (N2): unsafeCpImageEarlyCut leaves the last write logged out of this CP's image (its LBA
    // keeps what it read before that write) and carries it to the next CP; coveredSeq says so, so the
    // destination keeps its log entry. So that a crash cannot lose it, this variation keeps a frozen
    // half until the NEXT CP has committed: it releases and freezes after the commit, not at confirm.
    const held = earlyCut ? this.takeHeldBack() : null;
    const coveredSeq = held ? held.seq - 1 : this.nextSeq - 1;
    if (held) this.volume.write(held.lba, held.before);
    const baseCp = this.volume.cpNumber;
    const cp = this.volume.beginCp(coveredSeq);
    this.volume.commit(cp);
    if (held) this.volume.write(held.lba, held.data);
    if (earlyCut) {
      if (this.nvlog.hasFrozen) this.nvlog.release();
      this.nvlog.freeze();
    }
    this.lastCpTick = this.nowTick;
    if (this.relationship === 'in-sync') {
      this.awaited = { cpNumber: cp.cpNumber, coveredSeq, resync: false };
      this.send({
        kind: 'cp-sync',
        source: this.config.id,
        cpNumber: cp.cpNumber,
        coveredSeq,
        updates: cp.updates,
        resync: false,
        baseCp,
      });
      this.awaitedSinceTick = this.nowTick;
    } else {
      // Out of sync the CP is local: it completes at once, and the pinned base keeps resync incremental.
      if (!earlyCut) this.nvlog.release();
    }
    return true;
  }

  private onCpConfirm(cpNumber: number): void {
    const awaited = this.awaited;
    if (awaited === null || awaited.cpNumber !== cpNumber) return; // A duplicate or a stale confirm.
    this.awaited = null;
    this.awaitedSinceTick = null;
    if (!awaited.resync) {
      if (!this.config.unsafeCpImageEarlyCut) this.nvlog.release(); // CANARY (N2): kept until the next CP.
      this.drainStalled();
      return;
    }
    // The mirror holds the transfer's image: forward what the NVLOG holds after it, then in sync again.
    this.volume.unpinBaseImages();
    // Log entries forwarded before the link broke are forgotten by resumeForwarding (the transfer
    // covers them): still counted as awaited, they would time out a relationship that is in sync.
    this.resumeForwarding(awaited.coveredSeq);
    this.drainStalled();
  }

  // Link loss and resync.

  /**
   * Rule L2: some request (the oldest log entry not acknowledged, or the CP sync awaited) has had no
   * answer for ackTimeoutTicks. Per request, not since the last answer of any kind: a lost log-ack
   * must not hide behind the CP confirms that keep arriving.
   */
  private timedOut(): boolean {
    let oldest = this.awaited !== null ? this.awaitedSinceTick : null;
    for (const [seq, tick] of this.forwardedAt) {
      if (seq <= this.ackedSeq) continue;
      oldest = oldest === null ? tick : Math.min(oldest, tick);
      break; // Forwarded in seq order: the first unacknowledged one is the oldest.
    }
    return oldest !== null && this.nowTick - oldest >= this.config.ackTimeoutTicks;
  }

  private goOutOfSync(): void {
    // Pin first: from here on local CPs may free blocks of the images the mirror may still hold. An
    // offline volume runs no CP again, and takes no pin.
    if (this.offline === null) this.volume.pinBaseImages();
    this.relationship = 'out-of-sync';
    if (this.awaited !== null) {
      if (!this.awaited.resync && !this.config.unsafeCpImageEarlyCut) this.nvlog.release();
      this.awaited = null;
    }
    for (const [seq, writeId] of this.waiting) {
      this.waiting.delete(seq);
      // A strict-sync write is never acknowledged unmirrored; its outcome is indeterminate, not lost.
      if (this.config.mode === 'strict-sync')
        this.answer(writeId, false, 'strict-sync: destination unreachable before the write was mirrored');
      else this.answer(writeId, true);
    }
    this.awaitedSinceTick = null;
    this.forwardedAt.clear();
    if (this.offline === null) this.sendHello();
  }

  private sendHello(): void {
    this.lastHelloTick = this.nowTick;
    // The counter restarts with the server; with the CP number the pair names one hello, but for a
    // reply to a hello of the server's previous life that arrives after a restart quicker than it.
    this.helloSeq++;
    this.helloCp = this.volume.cpNumber;
    this.send({
      kind: 'hello',
      source: this.config.id,
      lastCommittedCp: this.helloCp,
      helloSeq: this.helloSeq,
    });
  }

  /**
   * The destination answered: its mirror is at CP `mirrorCp`. Commit what is in memory in a CP whose
   * number's parity differs from the mirror's (the transfer's root must not overwrite the root slot of
   * the mirror's committed image), then send the blocks changed since that image in one transfer.
   *
   * The mirror's image is the current one or a pinned one: pins are taken when the link is declared
   * lost (the current and previous images: in sync the mirror lags at most one CP) and, here, before
   * each transfer (its base, and its own image, which the mirror holds once it commits the transfer
   * even if the confirm is lost). Only a mirror new to this volume holds neither: it gets every block.
   */
  private onHelloReply(mirrorCp: number): void {
    if (this.offline !== null) return; // A late reply: an offline volume resyncs nothing.
    if (this.relationship !== 'out-of-sync' || this.awaited !== null) return;
    this.relationship = 'resyncing';
    if (mirrorCp === this.volume.cpNumber && this.volume.dirtyCount === 0) {
      this.volume.unpinBaseImages();
      return this.resumeForwarding(this.volume.coveredSeq);
    }
    const known = mirrorCp === this.volume.cpNumber || this.volume.pinnedCps.includes(mirrorCp);
    // A current base must be pinned before the CPs below: the second may reuse blocks the first freed.
    if (mirrorCp === this.volume.cpNumber) this.volume.pinTransferImages(mirrorCp);
    this.localCp();
    if ((this.volume.cpNumber - mirrorCp) % 2 === 0) this.localCp();
    if (known) this.volume.pinTransferImages(mirrorCp);
    // CANARY (L3): unsafeResyncSendsWholeVolume sends every live block even when a common CP exists.
    const updates =
      known && !this.config.unsafeResyncSendsWholeVolume
        ? this.volume.changedBlocksSince(mirrorCp)!
        : this.volume.allLiveBlocks();
    const coveredSeq = this.volume.coveredSeq;
    this.awaited = { cpNumber: this.volume.cpNumber, coveredSeq, resync: true };
    this.send({
      kind: 'cp-sync',
      source: this.config.id,
      cpNumber: this.volume.cpNumber,
      coveredSeq,
      updates,
      resync: true,
      baseCp: mirrorCp,
    });
    this.awaitedSinceTick = this.nowTick;
  }

  /**
   * In sync again from `coveredSeq` on: what was forwarded before the link broke and never acknowledged
   * is forgotten (the transfer covers it), and the NVLOG's later entries go out in seq order.
   */
  private resumeForwarding(coveredSeq: number): void {
    this.relationship = 'in-sync';
    this.sentSeq = coveredSeq;
    this.ackedSeq = coveredSeq;
    this.forwardedAt.clear();
    for (const e of this.nvlog.entriesAfter(coveredSeq)) this.forward(e.seq, e.lba, e.data);
  }

  /** unsafeCpImageEarlyCut: the last write logged, if no CP holds it yet (each is held back once). */
  private takeHeldBack(): { seq: number; lba: number; data: Uint8Array; before: Uint8Array } | null {
    const held = this.lastLogged;
    this.lastLogged = null;
    return held && held.seq === this.nextSeq - 1 && held.seq > this.volume.coveredSeq ? held : null;
  }

  /** A CP that commits locally at once (out of sync, or before a resync transfer). */
  private localCp(): void {
    if (!this.nvlog.hasFrozen) this.nvlog.freeze();
    this.volume.cp(this.nextSeq - 1);
    this.nvlog.release();
    this.lastCpTick = this.nowTick;
  }

  /** The destination was promoted: this source no longer owns the volume; pending clients fail. */
  private fence(reason: string): void {
    this.relationship = 'failed-over';
    for (const [seq, writeId] of this.waiting) {
      this.waiting.delete(seq);
      this.answer(writeId, false, `failed over: ${reason}`);
    }
    for (const w of this.stalled.splice(0)) this.answer(w.writeId, false, `failed over: ${reason}`);
    this.awaited = null;
    this.awaitedSinceTick = null;
    this.forwardedAt.clear();
  }

  // Plumbing.

  private send(message: Message): void {
    this.effects.push({ kind: 'send', message });
  }

  private answer(writeId: number, ok: boolean, error?: string): void {
    this.effects.push(
      ok ? { kind: 'ack', writeId, ok } : { kind: 'ack', writeId, ok, error: error ?? 'failed' },
    );
  }
}

function nvlogOptions(config: SourceConfig): { blockBytes: number; entriesPerHalf?: number } {
  const blockBytes = config.geometry.blockBytes;
  return config.nvlogHalfEntries === undefined
    ? { blockBytes }
    : { blockBytes, entriesPerHalf: config.nvlogHalfEntries };
}

function volumeOptions(config: SourceConfig): { unsafeReuseFreedBeforeCommit?: boolean } {
  return config.unsafeReuseFreedBeforeCommit ? { unsafeReuseFreedBeforeCommit: true } : {};
}
