// The NVLOG: client writes logged in NVRAM, in two halves (one active, one frozen for a CP). Fault model:
// a cut between NVRAM writes may tear the last one; recovery keeps exactly the completed appends.
//
// On-NVRAM layout. The NVRAM is cut in two halves of `halfBytes` = floor(bytes / 2 / 8) * 8 bytes.
// Each half starts with a 32-byte header, all u32 little-endian:
//   0  state mark: FROZEN_MARK when the half was frozen for a CP, anything else means open. It lies
//      outside the header checksum and is written alone by freeze(), so a torn mark only reads as open,
//      which is safe: recovery orders halves by sequence number anyway.
//   4  magic HALF_MAGIC   8 epoch   12 blockBytes   16 checksum over bytes 4..16   20..32 zero.
// Entries follow at offset 32, at fixed slots of `entryBytes` = blockBytes + 32 bytes each:
//   0 magic ENTRY_MAGIC   4 epoch   8 seq (low u32)   12 seq (high u32)   16 lba   20 blockBytes
//   24 data (blockBytes)   24+blockBytes checksum over bytes 0 .. 24+blockBytes   28+blockBytes zero.
// The checksum sits at the END of the entry: one NVRAM write per entry, and a torn write lands its
// first half only, so the stored checksum is never the new one and the entry fails verification.
// An entry is valid when its magic, epoch (equal to its half's), blockBytes and checksum are right and
// its seq exceeds the one before it; a half's valid entries are the prefix of valid slots, and the
// first invalid slot (torn, or stale from an older epoch) ends it. release() empties a half by writing
// bytes 0..20 of its header (open mark, new epoch) in one write: the old entries stay in NVRAM but no
// longer match the epoch; torn, that write fails the header checksum, and recovery then finds the
// half empty too (its entries were covered by the committed CP anyway) and writes a fresh header.
// Epochs only grow: a release takes max(epoch of both halves) + 1, and recovery repairs a torn header
// with 1 + the largest epoch of any checksum-valid header or entry it finds, so no stale entry can ever
// carry the epoch of a header again.

import { checksum } from '../harness/media/checksum.ts';
import { assert, ConfigError } from '../harness/media/errors.ts';
import type { Nvram } from '../harness/media/nvram.ts';

const HALF_MAGIC = 0x4e564c47; // 'NVLG'
const ENTRY_MAGIC = 0x4e564c45; // 'NVLE'
// The two marks differ in their high 16 bits, so a torn mark write (its low half landed) is neither.
const FROZEN_MARK = 0x46525a4e;
const OPEN_MARK = 0x4f50454e;
const HALF_HEADER_BYTES = 32;
const ENTRY_OVERHEAD_BYTES = 32;
const ENTRY_HEADER_BYTES = 24;
const TWO_32 = 0x1_0000_0000;

export interface NvlogOptions {
  readonly blockBytes: number;
  /** The world's `nvlogHalfEntries`: a half is full after this many entries even if more would fit. */
  readonly entriesPerHalf?: number;
}

/** One logged client write. `data` is the log's own copy: do not mutate it. */
export interface LogEntry {
  readonly seq: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

/** What recovery found in one half. */
interface HalfScan {
  headerValid: boolean;
  /** blockBytes of a whole header, whether or not it matches this log's (0 when torn or blank). */
  formattedBlockBytes: number;
  epoch: number;
  marked: boolean;
  entries: LogEntry[];
  /** The largest epoch of any checksum-valid entry in any slot, valid for this epoch or stale. */
  maxSeenEpoch: number;
}

export class Nvlog {
  readonly blockBytes: number;
  readonly entryBytes: number;
  readonly halfBytes: number;
  /** Entries that fit in one half. */
  readonly entriesPerHalf: number;
  /** The highest seq ever appended or recovered; appends must exceed it. */
  private last = 0;
  private active: 0 | 1 = 0;
  private frozen: boolean;
  private readonly epochs: [number, number];
  private readonly halves: [LogEntry[], LogEntry[]] = [[], []];

  private constructor(
    private readonly nvram: Nvram,
    blockBytes: number,
    epochs: [number, number],
    entriesWanted?: number,
  ) {
    this.blockBytes = blockBytes;
    this.entryBytes = blockBytes + ENTRY_OVERHEAD_BYTES;
    this.halfBytes = Math.floor(nvram.bytes / 16) * 8;
    const fit = Math.floor((this.halfBytes - HALF_HEADER_BYTES) / this.entryBytes);
    if (entriesWanted !== undefined && entriesWanted > fit)
      throw new ConfigError(
        `NVRAM of ${nvram.bytes} bytes holds ${fit} entries of ${blockBytes}-byte blocks a half, not ${entriesWanted}`,
      );
    this.entriesPerHalf = entriesWanted ?? fit;
    this.epochs = epochs;
    this.frozen = false;
  }

  /** Writes two empty halves (two NVRAM writes), with epochs newer than anything already in NVRAM. */
  static format(nvram: Nvram, options: NvlogOptions): Nvlog {
    const log = new Nvlog(
      nvram,
      checkedBlockBytes(nvram, options.blockBytes),
      [0, 0],
      options.entriesPerHalf,
    );
    const scans = [log.scanHalf(0), log.scanHalf(1)];
    const epoch = 1 + Math.max(...scans.map((s) => Math.max(s.epoch, s.maxSeenEpoch)));
    log.writeHeader(0, epoch);
    log.writeHeader(1, epoch);
    return log;
  }

  /**
   * After a crash: scans both halves and rebuilds the index. A half whose header is torn (a release
   * or format cut short) is empty and gets a fresh header (one NVRAM write). When both halves hold
   * entries, the older one is the frozen half; otherwise a half is frozen when its mark says so.
   */
  static recover(nvram: Nvram, options: NvlogOptions): Nvlog {
    const log = new Nvlog(
      nvram,
      checkedBlockBytes(nvram, options.blockBytes),
      [0, 0],
      options.entriesPerHalf,
    );
    const scans: [HalfScan, HalfScan] = [log.scanHalf(0), log.scanHalf(1)];
    for (const scan of scans) {
      if (scan.formattedBlockBytes !== 0 && scan.formattedBlockBytes !== log.blockBytes)
        throw new ConfigError(
          `NVLOG was formatted for ${scan.formattedBlockBytes}-byte blocks, not ${log.blockBytes}`,
        );
    }
    const seenEpoch = Math.max(...scans.map((s) => Math.max(s.epoch, s.maxSeenEpoch)));
    for (const half of [0, 1] as const) {
      const scan = scans[half];
      if (!scan.headerValid) {
        log.writeHeader(half, seenEpoch + 1);
        scan.entries = [];
        scan.marked = false;
      } else {
        log.epochs[half] = scan.epoch;
      }
      log.halves[half] = scan.entries;
    }
    log.chooseRoles(scans);
    log.last = Math.max(0, ...log.entries().map((e) => e.seq));
    return log;
  }

  get activeHalf(): 0 | 1 {
    return this.active;
  }

  get hasFrozen(): boolean {
    return this.frozen;
  }

  /** The highest seq the log has held since format or recovery (0 when none). */
  get lastSeq(): number {
    return this.last;
  }

  get activeCount(): number {
    return this.halves[this.active].length;
  }

  get frozenCount(): number {
    return this.frozen ? this.halves[other(this.active)].length : 0;
  }

  /** NVRAM bytes held by entries of both halves (headers excluded). */
  get bytesUsed(): number {
    return (this.halves[0].length + this.halves[1].length) * this.entryBytes;
  }

  /**
   * Logs one client write with one NVRAM write. False when the active half is full: the caller starts
   * a CP or stalls the write (back-pressure), it never drops it.
   */
  append(seq: number, lba: number, data: Uint8Array): boolean {
    assert(Number.isSafeInteger(seq) && seq > this.last, 'nvlog seq increases');
    assert(Number.isInteger(lba) && lba >= 0 && lba < TWO_32, 'nvlog lba fits u32');
    if (data.length !== this.blockBytes)
      throw new RangeError(`nvlog: entry of ${data.length} bytes, expected ${this.blockBytes}`);
    const half = this.active;
    const slot = this.halves[half].length;
    if (slot >= this.entriesPerHalf) return false;
    this.nvram.write(this.slotOffset(half, slot), this.encodeEntry(this.epochs[half], seq, lba, data));
    this.halves[half].push({ seq, lba, data: new Uint8Array(data) });
    this.last = seq;
    return true;
  }

  /**
   * A CP starts: the active half is frozen (one small NVRAM write) and the other half becomes active.
   * False when the other half still holds a frozen CP's entries: writes stall until release().
   */
  freeze(): boolean {
    if (this.frozen) return false;
    const next = other(this.active);
    assert(this.halves[next].length === 0, 'nvlog: a half that is neither active nor frozen is empty');
    this.nvram.write(this.halfOffset(this.active), u32Bytes(FROZEN_MARK));
    this.frozen = true;
    this.active = next;
    return true;
  }

  /** The CP that covers the frozen half committed: empty it by bumping its epoch (one NVRAM write). */
  release(): void {
    assert(this.frozen, 'nvlog: release follows freeze');
    const half = other(this.active);
    this.writeHeader(half, Math.max(this.epochs[0], this.epochs[1]) + 1);
    this.halves[half] = [];
    this.frozen = false;
  }

  /** Every valid entry in seq order: the frozen half's, then the active half's. */
  entries(): LogEntry[] {
    const active = this.halves[this.active];
    return this.frozen ? [...this.halves[other(this.active)], ...active] : [...active];
  }

  /** The entries a recovery replays over a committed image that covers up to `seq`. */
  entriesAfter(seq: number): LogEntry[] {
    return this.entries().filter((e) => e.seq > seq);
  }

  private chooseRoles(scans: [HalfScan, HalfScan]): void {
    const [a, b] = [this.halves[0], this.halves[1]];
    if (a.length > 0 && b.length > 0) {
      // Both in use: the CP of the older half had not released it when the power went.
      const older: 0 | 1 = a[0]!.seq < b[0]!.seq ? 0 : 1;
      assert(this.halves[older].at(-1)!.seq < this.halves[other(older)][0]!.seq, 'nvlog halves ordered');
      this.frozen = true;
      this.active = other(older);
      return;
    }
    // A mark is cleared only by a header write, so a marked half with a valid header is still frozen.
    const markedHalf = scans[0].marked ? 0 : scans[1].marked ? 1 : null;
    if (markedHalf !== null) {
      this.frozen = true;
      this.active = other(markedHalf);
      return;
    }
    // No CP in progress: the half with entries (if any) keeps taking appends after them.
    this.frozen = false;
    this.active = b.length > 0 ? 1 : 0;
  }

  private scanHalf(half: 0 | 1): HalfScan {
    const base = this.halfOffset(half);
    const header = new DataView(this.nvram.read(base, HALF_HEADER_BYTES).buffer);
    const headerBytes = this.nvram.read(base + 4, 12);
    const formatted =
      header.getUint32(4, true) === HALF_MAGIC && header.getUint32(16, true) === checksum(headerBytes);
    const formattedBlockBytes = formatted ? header.getUint32(12, true) : 0;
    const headerValid = formatted && formattedBlockBytes === this.blockBytes;
    const epoch = headerValid ? header.getUint32(8, true) : 0;
    const scan: HalfScan = {
      headerValid,
      formattedBlockBytes,
      epoch,
      marked: header.getUint32(0, true) === FROZEN_MARK,
      entries: [],
      maxSeenEpoch: 0,
    };
    let inPrefix = headerValid;
    let lastSeq = 0;
    for (let slot = 0; slot < this.entriesPerHalf; slot++) {
      const entry = this.decodeEntry(this.nvram.read(this.slotOffset(half, slot), this.entryBytes));
      if (entry !== null) scan.maxSeenEpoch = Math.max(scan.maxSeenEpoch, entry.epoch);
      if (!inPrefix) continue;
      if (entry === null || entry.epoch !== epoch || entry.seq <= lastSeq) {
        inPrefix = false;
        continue;
      }
      scan.entries.push({ seq: entry.seq, lba: entry.lba, data: entry.data });
      lastSeq = entry.seq;
    }
    return scan;
  }

  private writeHeader(half: 0 | 1, epoch: number): void {
    assert(epoch < TWO_32, 'nvlog epoch fits u32');
    const bytes = new Uint8Array(20);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, OPEN_MARK, true);
    view.setUint32(4, HALF_MAGIC, true);
    view.setUint32(8, epoch, true);
    view.setUint32(12, this.blockBytes, true);
    view.setUint32(16, checksum(bytes.subarray(4, 16)), true);
    this.nvram.write(this.halfOffset(half), bytes);
    this.epochs[half] = epoch;
  }

  private encodeEntry(epoch: number, seq: number, lba: number, data: Uint8Array): Uint8Array {
    const bytes = new Uint8Array(this.entryBytes);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, ENTRY_MAGIC, true);
    view.setUint32(4, epoch, true);
    view.setUint32(8, seq >>> 0, true);
    view.setUint32(12, Math.floor(seq / TWO_32), true);
    view.setUint32(16, lba, true);
    view.setUint32(20, this.blockBytes, true);
    bytes.set(data, ENTRY_HEADER_BYTES);
    const body = bytes.subarray(0, this.entryBytes - 8);
    view.setUint32(this.entryBytes - 8, checksum(body), true);
    return bytes;
  }

  /** The entry in a slot if it is whole (magic, size and checksum right), else null. */
  private decodeEntry(bytes: Uint8Array): (LogEntry & { epoch: number }) | null {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    if (view.getUint32(0, true) !== ENTRY_MAGIC || view.getUint32(20, true) !== this.blockBytes) return null;
    if (view.getUint32(this.entryBytes - 8, true) !== checksum(bytes.subarray(0, this.entryBytes - 8)))
      return null;
    const seq = view.getUint32(8, true) + view.getUint32(12, true) * TWO_32;
    const start = ENTRY_HEADER_BYTES;
    return {
      epoch: view.getUint32(4, true),
      seq,
      lba: view.getUint32(16, true),
      data: bytes.slice(start, start + this.blockBytes),
    };
  }

  private halfOffset(half: 0 | 1): number {
    return half * this.halfBytes;
  }

  private slotOffset(half: 0 | 1, slot: number): number {
    return this.halfOffset(half) + HALF_HEADER_BYTES + slot * this.entryBytes;
  }
}

function checkedBlockBytes(nvram: Nvram, blockBytes: number): number {
  if (!Number.isInteger(blockBytes) || blockBytes < 8 || blockBytes % 8 !== 0)
    throw new ConfigError(`NVLOG block size ${blockBytes} must be a positive multiple of 8`);
  const halfBytes = Math.floor(nvram.bytes / 16) * 8;
  if (halfBytes - HALF_HEADER_BYTES < blockBytes + ENTRY_OVERHEAD_BYTES)
    throw new ConfigError(
      `NVRAM of ${nvram.bytes} bytes cannot hold one ${blockBytes}-byte entry per half: ` +
        `it needs at least ${2 * (HALF_HEADER_BYTES + blockBytes + ENTRY_OVERHEAD_BYTES)} bytes`,
    );
  return blockBytes;
}

function other(half: 0 | 1): 0 | 1 {
  return half === 0 ? 1 : 0;
}

function u32Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}
