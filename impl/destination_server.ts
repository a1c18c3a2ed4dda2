// The destination storage server: for each source it mirrors, a log file (durable append before each
// log-ack) and a mirror volume updated only by CP syncs, through its own RAID layer, root last.
// Sans-I/O like the source. Fault model: a power cut after any media write; on restart a torn log tail
// is dropped and an interrupted CP sync leaves the previous committed mirror intact (its root was never
// written). After failover it serves the promoted volume itself. A mirror group that loses more disks
// than it tolerates (rule D5) takes that mirror offline for good: its CP syncs are refused unconfirmed,
// while its log file and the other sources' mirrors carry on.

import { checksum } from '../harness/media/checksum.ts';
import type { Disk } from '../harness/media/disk.ts';
import { assert } from '../harness/media/errors.ts';
import type { RaidGeometry } from '../harness/media/geometry.ts';
import { RaidFailure } from './errors.ts';
import { LogFile } from './log_file.ts';
import { assembleRaidGroup, type RaidGroup } from './raid.ts';
import { applyVbnUpdates, Volume } from './volume.ts';
import type { Message } from './wire.ts';

export interface MirrorConfig {
  readonly source: string;
  readonly lbaCount: number;
  readonly mirror: RaidGeometry;
  readonly logFile: RaidGeometry;
}

export interface DestinationConfig {
  readonly id: string;
  readonly mirrors: readonly MirrorConfig[];
  /** After a failover the promoted volume runs its own CPs on this interval. */
  readonly cpIntervalTicks: number;
  /** Deliberate bug for canary targets: write the mirror's blocks at the source's disk block numbers. */
  readonly unsafeApplyByDbn?: { readonly sourceGeometry: Readonly<Record<string, RaidGeometry>> };
  /** Deliberate bug for canary targets: promote the mirror without replaying its log file. */
  readonly unsafeFailoverWithoutReplay?: boolean;
  /** Deliberate bug for canary targets: never wait for CP syncs; apply the log file on its own timer. */
  readonly unsafeStoreAndForward?: boolean;
  /** Deliberate bug for canary targets (rule F1): truncate the log file before the CP sync is committed. */
  readonly unsafeTruncateLogEarly?: boolean;
  /** CANARY: a CP sync for a CP the mirror already has or passed is applied again (a stale copy). */
  readonly unsafeApplyStaleCpSync?: boolean;
  /** CANARY: a CP sync's root is written first, before the blocks it points to. */
  readonly unsafeRootFirst?: boolean;
  /** Deliberate bug for canary targets (rule F3): log file recovery trusts records of an earlier lap. */
  readonly unsafeLogTrustsStaleLap?: boolean;
  /** CANARY (D5, C2): a CP sync its offline mirror could not write is confirmed all the same. */
  readonly unsafeConfirmLostMirror?: boolean;
}

export interface DestinationMedia {
  readonly groups: Readonly<Record<string, Disk[]>>;
}

export type DestinationEffect =
  | { readonly kind: 'send'; readonly to: string; readonly message: Message }
  | { readonly kind: 'ack'; readonly writeId: number; readonly ok: boolean; readonly error?: string };

/** What the destination keeps for one source: its log file and its mirror (or promoted) volume. */
interface Mirror {
  readonly config: MirrorConfig;
  readonly mirrorRaid: RaidGroup;
  readonly logRaid: RaidGroup;
  readonly mirrorDisks: Disk[];
  readonly logDisks: Disk[];
  volume: Volume;
  log: LogFile;
  /** After failover: writes logged (promoted volume's own seq numbers) and when the last CP ran. */
  promotedSeq: number;
  lastCpTick: number;
  /**
   * The highest CP a hello of this source named. A CP sync numbered at or below it was sent before
   * that hello (a source's CP numbers only grow): a delayed copy from the relationship's previous
   * epoch. Once the reply told the source where the mirror stands, applying it would move the mirror
   * off the image the source plans its resync from (and may no longer keep). In memory only: a
   * destination that restarts forgets it, and the base check alone guards that case.
   */
  helloCp: number;
  /**
   * Why this mirror is offline, null while it serves: its RAID group refused a CP sync (rule D5). In
   * memory only: a destination with a group past its tolerance is never power-cycled (harness/target.ts).
   */
  offline: string | null;
}

export class DestinationServer {
  readonly config: DestinationConfig;
  private readonly mirrors = new Map<string, Mirror>();
  private effects: DestinationEffect[] = [];
  private nowTick = 0;

  private constructor(config: DestinationConfig) {
    this.config = config;
  }

  /** A new destination on blank media: each mirror formatted to the same CP 0 image as its source. */
  static format(config: DestinationConfig, media: DestinationMedia): DestinationServer {
    const server = new DestinationServer(config);
    for (const m of config.mirrors) {
      const { mirrorRaid, logRaid, mirrorDisks, logDisks } = groupsOf(m, media);
      const volume = Volume.format(mirrorRaid, { lbaCount: m.lbaCount });
      const log = LogFile.format(logRaid, { source: m.source });
      server.mirrors.set(m.source, {
        config: m,
        mirrorRaid,
        logRaid,
        mirrorDisks,
        logDisks,
        volume,
        log,
        promotedSeq: 0,
        lastCpTick: 0,
        helloCp: 0,
        offline: null,
      });
    }
    return server;
  }

  /**
   * Restart: parity resync (after finishing any rebuild the disks' labels show a cut interrupted),
   * mount each mirror's newest valid root, recover each log file.
   */
  static recover(config: DestinationConfig, media: DestinationMedia): DestinationServer {
    const server = new DestinationServer(config);
    for (const m of config.mirrors) {
      const { mirrorRaid, logRaid, mirrorDisks, logDisks } = groupsOf(m, media);
      mirrorRaid.resyncParity();
      logRaid.resyncParity();
      const volume = Volume.mount(mirrorRaid);
      const log = LogFile.recover(
        logRaid,
        config.unsafeLogTrustsStaleLap ? { unsafeTrustStaleLap: true } : {},
      );
      const mirror: Mirror = {
        config: m,
        mirrorRaid,
        logRaid,
        mirrorDisks,
        logDisks,
        volume,
        log,
        promotedSeq: 0,
        lastCpTick: 0,
        helloCp: 0,
        offline: null,
      };
      // A cut between a CP sync's root and its log truncation, where the CP covers entries the log file
      // never received (a resync transfer): finish the truncation, so the next seq the log file takes
      // is the one after the mounted image's. Otherwise each write a promoted volume logged would be a
      // gap the log file refuses, and acknowledged all the same.
      if (log.lastSeq < volume.coveredSeq) log.truncate(volume.coveredSeq);
      // A promoted volume's writes since its last CP are in the log file: replay them, as a source
      // replays its NVLOG.
      if (log.promoted) server.replayLog(mirror);
      server.mirrors.set(m.source, mirror);
    }
    return server;
  }

  takeEffects(): DestinationEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  receive(from: string, m: Message): void {
    const mirror = this.mirrors.get(m.source);
    // Fan-in: a message names its relationship, and only that source may speak for it.
    if (!mirror || from !== m.source) return;
    if (mirror.log.promoted) return this.rejectPromoted(mirror, m);
    switch (m.kind) {
      case 'log-entry':
        return this.onLogEntry(mirror, m.seq, m.lba, m.data, m.entrySum);
      case 'cp-sync':
        // Store-and-forward confirms without applying: the source believes the mirror has the CP.
        if (this.config.unsafeStoreAndForward)
          return this.send(mirror, { kind: 'cp-confirm', source: m.source, cpNumber: m.cpNumber });
        return this.onCpSync(mirror, m.cpNumber, m.baseCp, m.coveredSeq, m.updates);
      case 'hello':
        mirror.helloCp = Math.max(mirror.helloCp, m.lastCommittedCp);
        return this.send(mirror, {
          kind: 'hello-reply',
          source: m.source,
          lastCommittedCp: mirror.volume.cpNumber,
          logHighSeq: mirror.log.lastSeq,
          helloCp: m.lastCommittedCp,
          helloSeq: m.helloSeq,
        });
      default:
        return; // Acks, confirms and replies flow the other way.
    }
  }

  tick(): void {
    this.nowTick++;
    for (const mirror of this.mirrors.values()) {
      const due = this.nowTick - mirror.lastCpTick >= this.config.cpIntervalTicks;
      if (mirror.log.promoted && due) this.promotedCp(mirror);
      else if (this.config.unsafeStoreAndForward && due) this.storeAndForwardCp(mirror);
    }
  }

  // Promoted volumes serve clients.

  failover(source: string): void {
    const mirror = this.mirror(source);
    if (mirror.log.promoted) return;
    // The operator's decision is made durable first: from here on the mirror never takes another CP
    // sync, so it never commits an image that is neither the primary's nor the promoted volume's.
    // A crash after this point restarts promoted, and recovery replays the log file as below.
    mirror.log.markPromoted();
    if (!this.config.unsafeFailoverWithoutReplay) this.replayLog(mirror);
    this.promotedCp(mirror);
  }

  clientWrite(source: string, writeId: number, lba: number, data: Uint8Array): void {
    const mirror = this.mirror(source);
    if (!mirror.log.promoted) return this.answer(writeId, false, `${source}'s mirror is not promoted`);
    if (!Number.isInteger(lba) || lba < 0 || lba >= mirror.config.lbaCount)
      return this.answer(writeId, false, `LBA ${lba} outside the volume`);
    const seq = mirror.promotedSeq + 1;
    const outcome = mirror.log.append(seq, lba, data);
    if (outcome === 'full') {
      // The log is the promoted volume's NVLOG: make room with a CP, then log.
      this.promotedCp(mirror);
      if (mirror.log.append(seq, lba, data) !== 'appended')
        return this.answer(writeId, false, 'log file full');
    }
    mirror.promotedSeq = seq;
    mirror.volume.write(lba, data);
    this.answer(writeId, true);
  }

  clientRead(source: string, lba: number): Uint8Array {
    const mirror = this.mirror(source);
    // A user's error, typed as the source's is (rule R2): the target answers it with an error.
    if (!Number.isInteger(lba) || lba < 0 || lba >= mirror.config.lbaCount)
      throw new RangeError(`LBA ${lba} outside the volume (0..${mirror.config.lbaCount - 1})`);
    return mirror.volume.read(lba);
  }

  replaceDisk(group: string, index: number, spare: Disk): void {
    for (const mirror of this.mirrors.values()) {
      if (group === `mirror:${mirror.config.source}`) {
        mirror.mirrorDisks[index] = spare;
        return mirror.mirrorRaid.replaceAndRebuild(index, spare);
      }
      if (group === `log:${mirror.config.source}`) {
        mirror.logDisks[index] = spare;
        return mirror.logRaid.replaceAndRebuild(index, spare);
      }
    }
    throw new RangeError(`destination has no RAID group '${group}'`);
  }

  /** Every mirror's and log file's group scrubbed: each latent error found is rewritten from parity. */
  scrub(): number {
    let repaired = 0;
    for (const m of this.mirrors.values()) repaired += m.mirrorRaid.scrub() + m.logRaid.scrub();
    return repaired;
  }

  // Observation.

  isPromoted(source: string): boolean {
    return this.mirror(source).log.promoted;
  }

  mirrorCp(source: string): number {
    return this.mirror(source).volume.cpNumber;
  }

  readCommitted(source: string, lba: number): Uint8Array {
    return this.mirror(source).volume.readCommitted(lba);
  }

  readCommittedImage(source: string): Uint8Array[] {
    return this.mirror(source).volume.readCommittedImage();
  }

  liveVbns(source: string): number[] {
    return this.mirror(source).volume.liveVbns();
  }

  readVbn(source: string, vbn: number): Uint8Array {
    return this.mirror(source).volume.readVbn(vbn);
  }

  readVbns(source: string, vbns: readonly number[]): Uint8Array[] {
    return this.mirror(source).volume.readVbns(vbns);
  }

  logRecords(source: string): { seq: number; lba: number; data: Uint8Array }[] {
    return this.mirror(source).log.records();
  }

  // Mirroring.

  private onLogEntry(mirror: Mirror, seq: number, lba: number, data: Uint8Array, entrySum: number): void {
    // End to end: the data is what the source logged in its NVLOG, not merely what the frame carried
    // intact. An entry that does not match is not logged, and so not acknowledged.
    if (checksum(data) !== entrySum) return;
    const outcome = mirror.log.append(seq, lba, data);
    // A gap (an entry lost or reordered on the way) is not acknowledged: the source times out and
    // resynchronises. A full log file is not either: the destination cannot hold the write.
    if (outcome === 'appended' || outcome === 'duplicate')
      this.send(mirror, { kind: 'log-ack', source: mirror.config.source, seq: mirror.log.lastSeq });
  }

  /**
   * Applies a CP sync (or a resync transfer) through this server's own RAID layer, root last, then
   * truncates the log file up to what the CP covers and confirms. A CP at or below the mirror's is a
   * duplicate: it is confirmed again, not applied again.
   */
  private onCpSync(
    mirror: Mirror,
    cpNumber: number,
    baseCp: number,
    coveredSeq: number,
    updates: readonly { vbn: number; data: Uint8Array }[],
  ): void {
    // An offline mirror commits nothing again; the source, unconfirmed, times out and goes out of sync.
    // CANARY (D5): unsafeConfirmLostMirror confirms it all the same.
    const refuse = () => {
      if (this.config.unsafeConfirmLostMirror) this.confirm(mirror, cpNumber);
    };
    if (mirror.offline !== null) return refuse();
    const current = mirror.volume.cpNumber;
    // Computed against another image than the mirror's (a resync planned on a stale hello-reply, a
    // copy that arrived late): its blocks may overwrite ones the committed image still uses, so a
    // power cut in the middle would leave no image at all. Refused, unconfirmed: the source times out
    // and resyncs from where the mirror really is.
    if (cpNumber > current && baseCp !== current && !this.config.unsafeApplyStaleCpSync) return;
    // Sent before the source's latest hello, and the reply promised the mirror stays where it said.
    if (cpNumber > current && cpNumber <= mirror.helloCp) return;
    // A CP sync for a CP the mirror has or passed is a duplicate or a stale copy: confirmed again,
    // never applied (its blocks may be ones the mirror's newer CPs reuse).
    if (cpNumber > current || (this.config.unsafeApplyStaleCpSync && cpNumber > 0))
      if (!this.applied(mirror, () => this.apply(mirror, cpNumber, coveredSeq, updates))) return refuse();
    this.confirm(mirror, cpNumber);
  }

  private confirm(mirror: Mirror, cpNumber: number): void {
    this.send(mirror, { kind: 'cp-confirm', source: mirror.config.source, cpNumber });
  }

  /**
   * Runs `f`, the writing of a CP sync; a RaidFailure out of it takes the mirror offline (D5) and gives
   * false. RAID refuses a batch it cannot write whole, and nothing is written to the group again.
   */
  private applied(mirror: Mirror, f: () => void): boolean {
    try {
      f();
      return true;
    } catch (e) {
      if (!(e instanceof RaidFailure)) throw e;
      mirror.offline = e.message;
      return false;
    }
  }

  /** Writes a CP sync through the RAID layer, root last, and truncates the log file up to what it covers. */
  private apply(
    mirror: Mirror,
    cpNumber: number,
    coveredSeq: number,
    updates: readonly { vbn: number; data: Uint8Array }[],
  ): void {
    // CANARY (F1): the entries the CP covers are dropped before its root is written: a crash while
    // the CP is applied leaves the old mirror and a log file without them.
    if (this.config.unsafeTruncateLogEarly) mirror.log.truncate(Math.max(coveredSeq, 0));
    if (this.config.unsafeApplyByDbn) {
      this.applyByDbn(mirror, updates);
      mirror.volume = remountOrKeep(mirror);
    } else {
      // The root is the last update: written last, so a cut before it leaves the old image whole.
      // CANARY: unsafeRootFirst writes it first, pointing at blocks a cut may leave unwritten.
      if (this.config.unsafeRootFirst) {
        mirror.mirrorRaid.write([updates[updates.length - 1]!]);
        mirror.mirrorRaid.write(updates.slice(0, -1));
      } else applyVbnUpdates(mirror.mirrorRaid, updates);
      mirror.volume = Volume.mount(mirror.mirrorRaid);
      assert(mirror.volume.cpNumber === cpNumber, 'destination: the applied root is the CP that was sent');
    }
    if (!this.config.unsafeTruncateLogEarly) mirror.log.truncate(Math.max(coveredSeq, 0));
  }

  /**
   * The prior art's mistake, kept for the canary target: write each block at the disk and disk block
   * number the SOURCE's RAID geometry gives its VBN, straight onto this server's disks, bypassing its
   * RAID layer (no parity update, and the wrong place as soon as the geometries differ).
   */
  private applyByDbn(mirror: Mirror, updates: readonly { vbn: number; data: Uint8Array }[]): void {
    const g = this.config.unsafeApplyByDbn!.sourceGeometry[mirror.config.source]!;
    const perStripe = g.dataDisks * g.depthBlocks;
    for (const u of updates) {
      const stripe = Math.floor(u.vbn / perStripe);
      const within = u.vbn % perStripe;
      const disk = Math.floor(within / g.depthBlocks) % mirror.mirrorDisks.length;
      const dbn = stripe * g.depthBlocks + (within % g.depthBlocks);
      const target = mirror.mirrorDisks[disk];
      if (target && dbn < target.blockCount) target.write(dbn, u.data, checksum(u.data));
    }
  }

  /** Store-and-forward canary: apply the log file to the mirror on the destination's own schedule. */
  private storeAndForwardCp(mirror: Mirror): void {
    mirror.lastCpTick = this.nowTick;
    const records = mirror.log.recordsAfter(mirror.volume.coveredSeq);
    for (const r of records) mirror.volume.write(r.lba, r.data);
    const covered = records.length > 0 ? records[records.length - 1]!.seq : mirror.volume.coveredSeq;
    mirror.volume.cp(covered);
  }

  // Failover.

  private replayLog(mirror: Mirror): void {
    const records = mirror.log.recordsAfter(mirror.volume.coveredSeq);
    for (const r of records) mirror.volume.write(r.lba, r.data);
    mirror.promotedSeq = Math.max(mirror.log.lastSeq, mirror.volume.coveredSeq);
  }

  private promotedCp(mirror: Mirror): void {
    mirror.lastCpTick = this.nowTick;
    mirror.volume.cp(mirror.promotedSeq);
    mirror.log.truncate(mirror.promotedSeq);
  }

  private rejectPromoted(mirror: Mirror, m: Message): void {
    if (m.kind !== 'log-entry' && m.kind !== 'cp-sync' && m.kind !== 'hello') return;
    this.send(mirror, {
      kind: 'reject',
      source: mirror.config.source,
      refused: m.kind === 'cp-sync' ? 'cp' : 'seq',
      number: m.kind === 'cp-sync' ? m.cpNumber : m.kind === 'log-entry' ? m.seq : m.lastCommittedCp,
      permanent: true,
      reason: 'the destination was promoted by failover',
    });
  }

  private mirror(source: string): Mirror {
    const mirror = this.mirrors.get(source);
    if (!mirror) throw new RangeError(`destination mirrors no source '${source}'`);
    return mirror;
  }

  private send(mirror: Mirror, message: Message): void {
    this.effects.push({ kind: 'send', to: mirror.config.source, message });
  }

  private answer(writeId: number, ok: boolean, error?: string): void {
    this.effects.push(
      ok ? { kind: 'ack', writeId, ok } : { kind: 'ack', writeId, ok, error: error ?? 'failed' },
    );
  }
}

/** Canary only: blocks written behind the RAID layer's back may leave no mountable root. */
function remountOrKeep(mirror: Mirror): Volume {
  try {
    return Volume.mount(mirror.mirrorRaid);
  } catch {
    return mirror.volume;
  }
}

function groupsOf(m: MirrorConfig, media: DestinationMedia) {
  const mirrorDisks = media.groups[`mirror:${m.source}`];
  const logDisks = media.groups[`log:${m.source}`];
  if (!mirrorDisks || !logDisks)
    throw new RangeError(`destination media lack the groups of source '${m.source}'`);
  return {
    mirrorDisks,
    logDisks,
    mirrorRaid: assembleRaidGroup(m.mirror, mirrorDisks),
    logRaid: assembleRaidGroup(m.logFile, logDisks),
  };
}
