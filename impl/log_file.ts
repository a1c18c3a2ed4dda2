// The destination's log file for one source: the entries forwarded since the mirror's last CP, kept
// on a RAID group used as a ring. Fault model: a power cut between any two media writes (the last one
// possibly torn) loses at most the record or superblock being written, never one written before it.
//
// On-disk layout (integers u32 little-endian; a u64 is two u32s, low word first):
// - VBNs 0 and 1 hold two copies of the superblock. Superblock generation g is written to VBN g % 2,
//   so each write leaves the newest whole copy untouched: a torn superblock write (a truncation or a
//   promotion cut short) reads as the previous state. The reference protocol names one superblock;
//   one copy alone would lose the whole log to a torn truncation, hence two, as the volume's roots.
//     0 magic SUPER_MAGIC   4 layout version   8 blockBytes   12 capacityRecords   16 epoch
//     20 generation (u64)   28 truncatedSeq (u64)   36 headSlot   40 promoted (0 | 1)
//     44 source name length   48 .. source name (UTF-8)   blockBytes - 4: checksum of the rest.
//   A copy is valid when its magic, version, checksum and generation parity (g % 2 = its VBN) are right.
// - Record slot i (0 <= i < capacityRecords) takes VBNs 2 + 2i (header) and 3 + 2i (data). A header:
//     0 magic RECORD_MAGIC   4 epoch   8 seq (u64)   16 lba   20 data checksum   24 slot
//     blockBytes - 4: header checksum of the rest.
//   A record is appended with ONE RAID write of both blocks, then acknowledged.
// The live records are seqs truncatedSeq + 1, +2, ... in slots headSlot, headSlot + 1, ... (mod capacity).
// Recovery takes the newest valid superblock and scans from headSlot while each header is valid, has
// the superblock's epoch and the next seq, and the data matches its checksum. The first record that
// fails (torn by the crash, or unreadable: RaidFailure) ends the log; it was never acknowledged.
// Why a stale record never passes: one from an earlier format has an older epoch (format takes an
// epoch above every epoch on disk); one from an earlier lap of the ring has the seq of that lap, not
// the next one; and after truncate() jumps past the last record, every record on disk has a seq at or
// below the new truncatedSeq, so none can be the next.
// PowerLoss always propagates: the instance is dead, and LogFile.recover reads what the disks hold.

import { checksum } from '../harness/media/checksum.ts';
import { assert, ConfigError } from '../harness/media/errors.ts';
import { RaidFailure, VolumeError } from './errors.ts';
import type { RaidGroup } from './raid.ts';

const SUPER_MAGIC = 0x4c4f4753; // 'LOGS'
const RECORD_MAGIC = 0x4c4f4752; // 'LOGR'
const LAYOUT_VERSION = 1;
/** VBNs 0 and 1: the superblock copies. */
const SUPER_COPIES = 2;
const SOURCE_OFFSET = 48;
const TWO_32 = 0x1_0000_0000;

/** One logged client write as the log file holds it. */
export interface LogRecord {
  readonly seq: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

export type AppendOutcome = 'appended' | 'duplicate' | 'gap' | 'full';

export interface LogFileOptions {
  /** The source this log file belongs to (stored in the superblock, for the operator). */
  readonly source: string;
}

/** What the superblock says; `generation` orders the two copies. */
interface Superblock {
  readonly epoch: number;
  readonly generation: number;
  readonly truncatedSeq: number;
  readonly headSlot: number;
  readonly promoted: boolean;
  readonly source: string;
}

/** A superblock as read, with the geometry it was formatted for. */
interface StoredSuperblock extends Superblock {
  readonly blockBytes: number;
  readonly capacityRecords: number;
}

interface Header {
  readonly epoch: number;
  readonly seq: number;
  readonly lba: number;
  readonly dataSum: number;
  readonly slot: number;
}

export class LogFile {
  readonly capacityRecords: number;
  readonly blockBytes: number;
  private sb: Superblock;
  /** Live records on disk: seqs truncatedSeq + 1 .. truncatedSeq + count. */
  private count: number;

  private constructor(
    private readonly raid: RaidGroup,
    sb: Superblock,
    count: number,
    /** CANARY (F3): records are judged by epoch and checksums alone, not by their seq. */
    private readonly trustStaleLap = false,
  ) {
    this.blockBytes = raid.blockBytes;
    this.capacityRecords = capacityOf(raid);
    this.sb = sb;
    this.count = count;
  }

  /**
   * An empty log file (truncatedSeq 0: the first record is seq 1), with an epoch above every epoch on
   * disk so that no record of an earlier format can pass for one of this one. One RAID write, plus
   * one for each block that a crash left torn (see the healing notes below).
   */
  static format(raid: RaidGroup, options: LogFileOptions): LogFile {
    checkGeometry(raid);
    encodeSource(options.source, raid.blockBytes); // refuse a name that does not fit before writing
    const seen = scanForFormat(raid);
    const sb: Superblock = {
      epoch: seen.epoch + 1,
      generation: seen.generation + 1,
      truncatedSeq: 0,
      headSlot: 0,
      promoted: false,
      source: options.source,
    };
    const log = new LogFile(raid, sb, 0);
    log.writeSuperblock(sb);
    // The copy this format wrote is whole now; the other one and torn slots are rewritten.
    if (seen.unreadableCopies.some((vbn) => vbn !== sb.generation % SUPER_COPIES))
      bestEffort(() => log.healOtherCopy());
    for (const slot of seen.unreadableSlots) bestEffort(() => log.writeTombstone(slot));
    return log;
  }

  /**
   * After a crash or a restart: the newest valid superblock, then the records that follow on.
   * CANARY (F3): `unsafeTrustStaleLap` checks a record's epoch and checksums, not its seq, so once the
   * ring has wrapped, the record of an earlier lap after the last live one passes for the next.
   */
  static recover(raid: RaidGroup, canary: { readonly unsafeTrustStaleLap?: boolean } = {}): LogFile {
    checkGeometry(raid);
    const { newest, otherUnreadable } = newestSuperblock(raid);
    const log = new LogFile(raid, newest, 0, canary.unsafeTrustStaleLap === true);
    const scan = log.scan();
    log.count = scan.count;
    if (otherUnreadable) bestEffort(() => log.healOtherCopy());
    if (scan.endedUnreadable) bestEffort(() => log.healTail());
    return log;
  }

  get source(): string {
    return this.sb.source;
  }

  get epoch(): number {
    return this.sb.epoch;
  }

  /** Every seq up to this one is dead (covered by a CP of the mirror, or skipped by a resync). */
  get truncatedSeq(): number {
    return this.sb.truncatedSeq;
  }

  /** The highest seq held or truncated: the next append must be lastSeq + 1. */
  get lastSeq(): number {
    return this.sb.truncatedSeq + this.count;
  }

  get recordCount(): number {
    return this.count;
  }

  get promoted(): boolean {
    return this.sb.promoted;
  }

  /**
   * Appends the record `seq` with one RAID write of its header and data. The destination appends in
   * seq order only: an older seq is a duplicate (already held or truncated: re-acknowledge it), a
   * newer one than lastSeq + 1 would leave a gap (a message was lost: ignore it, the source resyncs).
   */
  append(seq: number, lba: number, data: Uint8Array): AppendOutcome {
    assert(Number.isSafeInteger(seq) && seq >= 1, 'log file seq is a positive integer');
    assert(Number.isInteger(lba) && lba >= 0 && lba < TWO_32, 'log file lba fits u32');
    if (data.length !== this.blockBytes)
      throw new RangeError(`log file: record of ${data.length} bytes, expected ${this.blockBytes}`);
    if (seq <= this.lastSeq) return 'duplicate';
    if (seq > this.lastSeq + 1) return 'gap';
    if (this.count === this.capacityRecords) return 'full';
    const slot = this.slotOf(seq);
    const header = this.encodeHeader({ epoch: this.sb.epoch, seq, lba, dataSum: checksum(data), slot });
    this.raid.write([
      { vbn: headerVbn(slot), data: header },
      { vbn: headerVbn(slot) + 1, data },
    ]);
    this.count++;
    return 'appended';
  }

  /**
   * Records with seq <= upToSeq are dead. Rewrites the superblock only (one RAID write). Beyond the
   * last record it empties the file and moves the next expected seq to upToSeq + 1 (after a resync
   * transfer that covers entries this file never received). No write when nothing changes.
   */
  truncate(upToSeq: number): void {
    assert(Number.isSafeInteger(upToSeq) && upToSeq >= 0, 'log file truncation seq is a safe integer');
    if (upToSeq <= this.sb.truncatedSeq) return;
    const dropped = Math.min(upToSeq, this.lastSeq) - this.sb.truncatedSeq;
    const headSlot = (this.sb.headSlot + dropped) % this.capacityRecords;
    this.writeSuperblock(this.nextSuperblock({ truncatedSeq: upToSeq, headSlot }));
    this.count -= dropped;
    assert(this.count >= 0, 'log file record count is not negative');
  }

  /** Failover: the destination's mirror is promoted; remembered across restarts (one RAID write). */
  markPromoted(): void {
    if (this.sb.promoted) return;
    this.writeSuperblock(this.nextSuperblock({ promoted: true }));
  }

  /** The live records in seq order, read back through RAID (so a caller sees what is on disk). */
  records(): LogRecord[] {
    return this.recordsAfter(this.sb.truncatedSeq);
  }

  /** The live records with seq > `seq`: what a failover replays over a mirror that covers `seq`. */
  recordsAfter(seq: number): LogRecord[] {
    const out: LogRecord[] = [];
    for (let s = Math.max(seq, this.sb.truncatedSeq) + 1; s <= this.lastSeq; s++) {
      const record = this.readRecord(this.slotOf(s), s);
      // Only RAID could lose a record that an append wrote whole, and it throws rather than lie.
      assert(record !== null, 'log file: a live record reads back as written');
      out.push(record);
    }
    return out;
  }

  /**
   * How many records follow on from the head: the scan that recovery trusts. A RaidFailure (a block
   * lost beyond what parity restores, typically torn by the crash) ends the log like a bad checksum.
   */
  private scan(): { count: number; endedUnreadable: boolean } {
    let count = 0;
    while (count < this.capacityRecords) {
      const seq = this.sb.truncatedSeq + 1 + count;
      try {
        if (this.readRecord(this.slotOf(seq), seq) === null) break;
      } catch (error) {
        if (!(error instanceof RaidFailure)) throw error;
        return { count, endedUnreadable: true };
      }
      count++;
    }
    return { count, endedUnreadable: false };
  }

  /*
   * Healing after a crash. A block torn by a power cut stays unreadable (its checksum fails and parity,
   * resynced over its torn bytes, cannot restore it) until it is overwritten: every scrub reports it
   * as unrepairable, and a RAID layer may refuse or degrade writes to its stripe meanwhile. The torn
   * block is either the superblock copy that was being written or the record after the last valid
   * one, so recovery rewrites that one block (or pair) with content that changes nothing the log shows.
   */

  /** Rewrites the other superblock copy as the current one a generation older: it never outranks it. */
  private healOtherCopy(): void {
    if (this.sb.generation === 0) return; // itself a healed copy: no generation below it to take
    const older: Superblock = { ...this.sb, generation: this.sb.generation - 1 };
    this.raid.write([{ vbn: older.generation % SUPER_COPIES, data: encodeSuperblock(older, this.raid) }]);
  }

  /** Rewrites the slot after the last record with a tombstone. */
  private healTail(): void {
    if (this.count < this.capacityRecords)
      this.writeTombstone((this.sb.headSlot + this.count) % this.capacityRecords);
  }

  /** A record of seq 0, which no scan ever expects: it holds the slot's place and reads back whole. */
  private writeTombstone(slot: number): void {
    const data = new Uint8Array(this.blockBytes);
    const header = this.encodeHeader({ epoch: this.sb.epoch, seq: 0, lba: 0, dataSum: checksum(data), slot });
    this.raid.write([
      { vbn: headerVbn(slot), data: header },
      { vbn: headerVbn(slot) + 1, data },
    ]);
  }

  /** The record in `slot` if it is whole and is record `seq` of this epoch, else null. */
  private readRecord(slot: number, seq: number): LogRecord | null {
    const header = decodeHeader(this.raid.read(headerVbn(slot)));
    // A tombstone (seq 0) is never a record, even to the canary.
    const seqOk = header !== null && (header.seq === seq || (this.trustStaleLap && header.seq > 0));
    if (header === null || header.epoch !== this.sb.epoch || !seqOk || header.slot !== slot) return null;
    const data = this.raid.read(headerVbn(slot) + 1);
    if (checksum(data) !== header.dataSum) return null;
    return { seq, lba: header.lba, data };
  }

  /** Where record `seq` lives; defined for seqs after truncatedSeq only. */
  private slotOf(seq: number): number {
    const offset = seq - this.sb.truncatedSeq - 1;
    assert(offset >= 0 && offset < this.capacityRecords, 'log file seq maps into the ring');
    return (this.sb.headSlot + offset) % this.capacityRecords;
  }

  /** The current superblock with `changes`, one generation newer. */
  private nextSuperblock(changes: Partial<Omit<Superblock, 'generation'>>): Superblock {
    return { ...this.sb, ...changes, generation: this.sb.generation + 1 };
  }

  /** Writes `sb` to copy generation % 2, which never holds the current superblock; then adopts it. */
  private writeSuperblock(sb: Superblock): void {
    assert(Number.isSafeInteger(sb.generation) && sb.epoch < TWO_32, 'superblock counters fit');
    this.raid.write([{ vbn: sb.generation % SUPER_COPIES, data: encodeSuperblock(sb, this.raid) }]);
    this.sb = sb;
  }

  private encodeHeader(h: Header): Uint8Array {
    const bytes = new Uint8Array(this.blockBytes);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, RECORD_MAGIC, true);
    view.setUint32(4, h.epoch, true);
    setU64(view, 8, h.seq);
    view.setUint32(16, h.lba, true);
    view.setUint32(20, h.dataSum, true);
    view.setUint32(24, h.slot, true);
    sealBlock(bytes);
    return bytes;
  }
}

/** Records that fit after the two superblock copies: two VBNs each. */
function capacityOf(raid: RaidGroup): number {
  return Math.floor((raid.vbnCount - SUPER_COPIES) / 2);
}

function checkGeometry(raid: RaidGroup): void {
  if (capacityOf(raid) < 1)
    throw new ConfigError(
      `a log file needs at least ${SUPER_COPIES + 2} VBNs (superblocks and one record); ` +
        `this RAID group has ${raid.vbnCount}`,
    );
}

function headerVbn(slot: number): number {
  return SUPER_COPIES + 2 * slot;
}

/** What format finds on disk: counters to outrank, and blocks a crash left torn. */
interface FormatScan {
  epoch: number;
  generation: number;
  unreadableCopies: number[];
  unreadableSlots: number[];
}

/**
 * The largest epoch and generation anywhere on disk (0 when blank), so that a new format outranks
 * the old superblock and no old record carries the new epoch; and the blocks RAID cannot read (torn
 * by a crash), which format rewrites for the reason recovery heals them.
 */
function scanForFormat(raid: RaidGroup): FormatScan {
  const scan: FormatScan = { epoch: 0, generation: 0, unreadableCopies: [], unreadableSlots: [] };
  // Blank media (every disk present, none ever written) reads as zeros everywhere: no superblock, no
  // record, nothing unreadable. That is the scan's answer without reading every block of the ring,
  // which is most of what formatting a fresh server costs.
  if (raid.failedDisks().length === 0 && raid.disks.every((d) => d.blocksStored === 0)) return scan;
  for (let vbn = 0; vbn < SUPER_COPIES; vbn++) {
    const sb = readOrUnreadable(raid, vbn, (bytes) => decodeSuperblock(bytes, vbn));
    if (sb === UNREADABLE) scan.unreadableCopies.push(vbn);
    else if (sb !== null) {
      scan.epoch = Math.max(scan.epoch, sb.epoch);
      scan.generation = Math.max(scan.generation, sb.generation);
    }
  }
  for (let slot = 0; slot < capacityOf(raid); slot++) {
    const header = readOrUnreadable(raid, headerVbn(slot), decodeHeader);
    if (header !== UNREADABLE && header !== null) scan.epoch = Math.max(scan.epoch, header.epoch);
    // The old data no longer matters, only whether it can be read.
    const data = readOrUnreadable(raid, headerVbn(slot) + 1, () => null);
    if (header === UNREADABLE || data === UNREADABLE) scan.unreadableSlots.push(slot);
  }
  return scan;
}

/**
 * The newest valid copy, checked against this group's geometry, and whether the other copy could not
 * be read at all (torn by a cut: recovery rewrites it).
 */
function newestSuperblock(raid: RaidGroup): { newest: Superblock; otherUnreadable: boolean } {
  const copies: StoredSuperblock[] = [];
  let failure: RaidFailure | null = null;
  for (let vbn = 0; vbn < SUPER_COPIES; vbn++) {
    try {
      const sb = decodeSuperblock(raid.read(vbn), vbn);
      if (sb !== null) copies.push(sb);
    } catch (error) {
      if (!(error instanceof RaidFailure)) throw error;
      failure = error;
    }
  }
  const newest = copies.sort((a, b) => b.generation - a.generation)[0];
  if (newest === undefined) {
    if (failure !== null) throw failure;
    throw new VolumeError('log file: no valid superblock on this RAID group; format it first');
  }
  if (newest.blockBytes !== raid.blockBytes || newest.capacityRecords !== capacityOf(raid))
    throw new ConfigError(
      `log file was formatted for ${newest.capacityRecords} records of ${newest.blockBytes} bytes; ` +
        `this RAID group holds ${capacityOf(raid)} of ${raid.blockBytes}: another group, or resized`,
    );
  assert(newest.headSlot < newest.capacityRecords, 'superblock head slot lies in the ring');
  const { blockBytes: _b, capacityRecords: _c, ...sb } = newest;
  return { newest: sb, otherUnreadable: failure !== null };
}

/** A repair that RAID may refuse (the group is beyond its tolerance): the log works without it. */
function bestEffort(repair: () => void): void {
  try {
    repair();
  } catch (error) {
    if (!(error instanceof RaidFailure)) throw error;
  }
}

const UNREADABLE = Symbol('unreadable');

/** Reads and decodes a block; UNREADABLE when RAID cannot read it (RaidFailure). PowerLoss propagates. */
function readOrUnreadable<T>(
  raid: RaidGroup,
  vbn: number,
  decode: (bytes: Uint8Array) => T | null,
): T | null | typeof UNREADABLE {
  try {
    return decode(raid.read(vbn));
  } catch (error) {
    if (error instanceof RaidFailure) return UNREADABLE;
    throw error;
  }
}

function encodeSuperblock(sb: Superblock, raid: RaidGroup): Uint8Array {
  const bytes = new Uint8Array(raid.blockBytes);
  const view = new DataView(bytes.buffer);
  const source = encodeSource(sb.source, raid.blockBytes);
  view.setUint32(0, SUPER_MAGIC, true);
  view.setUint32(4, LAYOUT_VERSION, true);
  view.setUint32(8, raid.blockBytes, true);
  view.setUint32(12, capacityOf(raid), true);
  view.setUint32(16, sb.epoch, true);
  setU64(view, 20, sb.generation);
  setU64(view, 28, sb.truncatedSeq);
  view.setUint32(36, sb.headSlot, true);
  view.setUint32(40, sb.promoted ? 1 : 0, true);
  view.setUint32(44, source.length, true);
  bytes.set(source, SOURCE_OFFSET);
  sealBlock(bytes);
  return bytes;
}

/** The superblock in copy `vbn` if it is whole and belongs there, else null. */
function decodeSuperblock(bytes: Uint8Array, vbn: number): StoredSuperblock | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.getUint32(0, true) !== SUPER_MAGIC || !isSealed(bytes)) return null;
  if (view.getUint32(4, true) !== LAYOUT_VERSION) return null;
  const generation = getU64(view, 20);
  const sourceLength = view.getUint32(44, true);
  if (generation % SUPER_COPIES !== vbn || SOURCE_OFFSET + sourceLength > bytes.length - 4) return null;
  return {
    blockBytes: view.getUint32(8, true),
    capacityRecords: view.getUint32(12, true),
    epoch: view.getUint32(16, true),
    generation,
    truncatedSeq: getU64(view, 28),
    headSlot: view.getUint32(36, true),
    promoted: view.getUint32(40, true) === 1,
    source: new TextDecoder().decode(bytes.subarray(SOURCE_OFFSET, SOURCE_OFFSET + sourceLength)),
  };
}

function decodeHeader(bytes: Uint8Array): Header | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.getUint32(0, true) !== RECORD_MAGIC || !isSealed(bytes)) return null;
  return {
    epoch: view.getUint32(4, true),
    seq: getU64(view, 8),
    lba: view.getUint32(16, true),
    dataSum: view.getUint32(20, true),
    slot: view.getUint32(24, true),
  };
}

function encodeSource(source: string, blockBytes: number): Uint8Array {
  const bytes = new TextEncoder().encode(source);
  const room = blockBytes - 4 - SOURCE_OFFSET;
  if (bytes.length > room)
    throw new ConfigError(`log file: source name of ${bytes.length} bytes; a superblock holds ${room}`);
  return bytes;
}

/** The last four bytes of a block are the checksum of the rest: a torn write never matches it. */
function sealBlock(bytes: Uint8Array): void {
  const end = bytes.length - 4;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(end, checksum(bytes.subarray(0, end)), true);
}

function isSealed(bytes: Uint8Array): boolean {
  const end = bytes.length - 4;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return view.getUint32(end, true) === checksum(bytes.subarray(0, end));
}

function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * TWO_32;
}
