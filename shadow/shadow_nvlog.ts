// The shadow-paging source's NVLOG in NVRAM: two halves of fixed-size CRC'd entries, and a boot counter kept twice.
// Fault model: a power cut tears the NVRAM write in progress; CRCs reject it, sequence numbers tell stale entries.

import { ConfigError } from '../harness/media/errors.ts';
import type { Nvram } from '../harness/media/nvram.ts';
import { crc32, getU32, setU32 } from './shadow_checksum.ts';

const ENTRY_MAGIC = 0x4e564c45; // 'NVLE'
const BOOT_MAGIC = 0x424f4f54; // 'BOOT'
const HEADER = 32;

export interface NvlogEntry {
  readonly seq: number;
  readonly lba: number;
  readonly data: Uint8Array;
}

export class ShadowNvlog {
  private readonly nvram: Nvram;
  readonly halfEntries: number;
  private readonly blockBytes: number;
  private readonly halfBytes: number;

  constructor(nvram: Nvram, halfEntries: number, blockBytes: number) {
    this.nvram = nvram;
    this.halfEntries = halfEntries;
    this.blockBytes = blockBytes;
    this.halfBytes = Math.floor(nvram.bytes / 2);
    if (HEADER + halfEntries * (HEADER + blockBytes) > this.halfBytes)
      throw new ConfigError(`NVRAM of ${nvram.bytes} bytes cannot hold two halves of ${halfEntries} entries`);
  }

  private offset(half: number, index: number): number {
    return half * this.halfBytes + HEADER + index * (HEADER + this.blockBytes);
  }

  /** One NVRAM write per entry: header and data land together or the CRC rejects them. */
  append(half: number, index: number, entry: NvlogEntry): void {
    const rec = new Uint8Array(HEADER + this.blockBytes);
    setU32(rec, 0, ENTRY_MAGIC);
    setU32(rec, 4, entry.seq);
    setU32(rec, 8, entry.lba);
    rec.set(entry.data, HEADER);
    setU32(rec, 12, crc32(rec.subarray(HEADER), crc32(rec.subarray(0, 12))));
    this.nvram.write(this.offset(half, index), rec);
  }

  /** Every entry that checks out, from both halves (stale ones included: the caller filters by seq). */
  scan(): NvlogEntry[] {
    const out: NvlogEntry[] = [];
    for (let h = 0; h < 2; h++)
      for (let i = 0; i < this.halfEntries; i++) {
        const rec = this.nvram.read(this.offset(h, i), HEADER + this.blockBytes);
        if (getU32(rec, 0) !== ENTRY_MAGIC) continue;
        if (crc32(rec.subarray(HEADER), crc32(rec.subarray(0, 12))) !== getU32(rec, 12)) continue;
        out.push({ seq: getU32(rec, 4), lba: getU32(rec, 8), data: rec.slice(HEADER) });
      }
    return out;
  }

  /** The highest boot number either copy holds (0 on blank NVRAM). */
  readBoot(): number {
    let best = 0;
    for (let h = 0; h < 2; h++) {
      const b = this.nvram.read(h * this.halfBytes, 12);
      if (getU32(b, 0) === BOOT_MAGIC && crc32(b.subarray(0, 8)) === getU32(b, 8))
        best = Math.max(best, getU32(b, 4));
    }
    return best;
  }

  /** Written to the copy the previous boot did not use, so a torn write leaves the other intact. */
  writeBoot(boot: number): void {
    const b = new Uint8Array(12);
    setU32(b, 0, BOOT_MAGIC);
    setU32(b, 4, boot);
    setU32(b, 8, crc32(b.subarray(0, 8)));
    this.nvram.write((boot % 2) * this.halfBytes, b);
  }
}
