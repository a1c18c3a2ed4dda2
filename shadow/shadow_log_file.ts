// The destination's log file for one source on `log:<src>`: a failover superblock and a ring of data+header records.
// Fault model: power cut tears or drops the write in progress; CRCs drop a torn tail at mount, never acknowledged.

import { RaidFailure } from '../impl/errors.ts';
import type { RaidGroup } from '../impl/raid.ts';
import { crc32, getU32, nameTag, setU32 } from './shadow_checksum.ts';
import { touchEveryDisk } from './shadow_disks.ts';

const SUPER_MAGIC = 0x4c4f4753; // 'LOGS'
const RECORD_MAGIC = 0x4c4f4752; // 'LOGR'

export interface LogEntry {
  readonly seq: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

interface Indexed {
  readonly seq: number;
  readonly lba: number;
  readonly pos: number;
}

export class ShadowLogFile {
  readonly group: RaidGroup;
  private readonly tag: number;
  private readonly ring: number;
  /** Valid records by ring position, as on disk. */
  private readonly byPos = new Map<number, Indexed>();
  promoted = false;

  private constructor(group: RaidGroup, source: string) {
    this.group = group;
    this.tag = nameTag(source);
    this.ring = Math.floor((group.vbnCount - 1) / 2);
  }

  static format(group: RaidGroup, source: string): ShadowLogFile {
    const log = new ShadowLogFile(group, source);
    touchEveryDisk(group);
    log.writeSuper(false);
    return log;
  }

  /** Rebuilds the index from disk; a torn tail fails its CRC and is left out. */
  static mount(group: RaidGroup, source: string): ShadowLogFile {
    const log = new ShadowLogFile(group, source);
    const sb = log.readOrNull(0);
    log.promoted =
      sb !== null &&
      getU32(sb, 0) === SUPER_MAGIC &&
      crc32(sb.subarray(0, 12)) === getU32(sb, 12) &&
      getU32(sb, 8) === 1;
    for (let pos = 0; pos < log.ring; pos++) {
      const h = log.readOrNull(1 + 2 * pos);
      if (!h || getU32(h, 0) !== RECORD_MAGIC || getU32(h, 4) !== log.tag) continue;
      if (crc32(h.subarray(0, 20)) !== getU32(h, 20)) continue;
      const d = log.readOrNull(2 + 2 * pos);
      if (!d || crc32(d) !== getU32(h, 16)) continue;
      log.byPos.set(pos, { seq: getU32(h, 8), lba: getU32(h, 12), pos });
    }
    return log;
  }

  private readOrNull(vbn: number): Uint8Array | null {
    try {
      return this.group.read(vbn);
    } catch (e) {
      if (e instanceof RaidFailure) return null;
      throw e;
    }
  }

  /** The failover marker: written before the promotion starts, so a cut promotion finishes at restart. */
  writeSuper(promoted: boolean): void {
    const b = new Uint8Array(this.group.blockBytes);
    setU32(b, 0, SUPER_MAGIC);
    setU32(b, 4, this.tag);
    setU32(b, 8, promoted ? 1 : 0);
    setU32(b, 12, crc32(b.subarray(0, 12)));
    this.group.write([{ vbn: 0, data: b }]);
    this.promoted = promoted;
  }

  has(seq: number): boolean {
    const r = this.byPos.get(seq % this.ring);
    return r !== undefined && r.seq === seq;
  }

  /**
   * Appends durably (data, then header). False when the ring position still holds a record the mirror
   * does not cover yet: the entry is then not logged and not acknowledged.
   */
  append(entry: LogEntry, coveredSeq: number): boolean {
    const pos = entry.seq % this.ring;
    const old = this.byPos.get(pos);
    if (old && old.seq > coveredSeq && old.seq !== entry.seq) return false;
    this.byPos.delete(pos);
    this.group.write([{ vbn: 2 + 2 * pos, data: entry.data }]);
    const h = new Uint8Array(this.group.blockBytes);
    setU32(h, 0, RECORD_MAGIC);
    setU32(h, 4, this.tag);
    setU32(h, 8, entry.seq);
    setU32(h, 12, entry.lba);
    setU32(h, 16, crc32(entry.data));
    setU32(h, 20, crc32(h.subarray(0, 20)));
    this.group.write([{ vbn: 1 + 2 * pos, data: h }]);
    this.byPos.set(pos, { seq: entry.seq, lba: entry.lba, pos });
    return true;
  }

  /** The live records, those the committed mirror does not cover, in seq order (data read from disk). */
  records(coveredSeq: number): LogEntry[] {
    return [...this.byPos.values()]
      .filter((r) => r.seq > coveredSeq)
      .sort((a, b) => a.seq - b.seq)
      .map((r) => ({ seq: r.seq, lba: r.lba, data: this.group.read(2 + 2 * r.pos) }));
  }
}
