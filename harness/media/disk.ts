// An in-memory disk: sparse blocks, each stored with the checksum its writer gave (the sector trailer
// of a real disk formatted with 520-byte sectors). Fault model: the whole disk fails (every read and
// write then throws DiskFailed), a block silently rots (a latent sector error: the data no longer
// matches its stored checksum), a write is torn by a power cut (the first half lands, the rest is old).

import { checksum } from './checksum.ts';
import { ConfigError, DiskFailed } from './errors.ts';
import { Power } from './power.ts';

export const DEFAULT_BLOCK_BYTES = 4096;

export interface DiskOptions {
  readonly id: string;
  readonly blockCount: number;
  readonly blockBytes?: number;
  /** The power of the server that owns the disk; every write goes through it. */
  readonly power?: Power;
}

export interface StoredBlock {
  /** Do not mutate: it is the disk's own copy. */
  readonly data: Uint8Array;
  readonly sum: number;
}

export class Disk {
  readonly id: string;
  readonly blockCount: number;
  readonly blockBytes: number;
  power: Power;
  reads = 0;
  writes = 0;
  private failed = false;
  private tampered = 0;
  private readonly blocks = new Map<number, StoredBlock>();
  private readonly zero: StoredBlock;

  constructor(options: DiskOptions) {
    const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
    if (blockBytes < 64 || blockBytes % 8 !== 0)
      throw new ConfigError(`block size ${blockBytes} must be a multiple of 8, at least 64`);
    if (!Number.isInteger(options.blockCount) || options.blockCount < 1)
      throw new ConfigError(`disk ${options.id}: blockCount must be a positive integer`);
    this.id = options.id;
    this.blockCount = options.blockCount;
    this.blockBytes = blockBytes;
    this.power = options.power ?? new Power();
    // A new disk reads as zeros with valid checksums, as if the factory had formatted it.
    const zeros = new Uint8Array(blockBytes);
    this.zero = { data: zeros, sum: checksum(zeros) };
  }

  get isFailed(): boolean {
    return this.failed;
  }

  /** Blocks held in memory: grows with what was written, not with the disk's size. */
  get blocksStored(): number {
    return this.blocks.size;
  }

  /** The DBNs ever written, ascending: lets RAID rebuild, resync and scrub skip never-written stripes. */
  storedDbns(): number[] {
    if (this.failed) throw new DiskFailed(this.id);
    return [...this.blocks.keys()].sort((a, b) => a - b);
  }

  read(dbn: number): StoredBlock {
    this.check(dbn);
    this.reads++;
    return this.blocks.get(dbn) ?? this.zero;
  }

  /** Writes a copy of `data` with its checksum; torn by a power cut, only the first half lands. */
  write(dbn: number, data: Uint8Array, sum: number): void {
    this.check(dbn);
    if (data.length !== this.blockBytes)
      throw new RangeError(`disk ${this.id}: block of ${data.length} bytes, expected ${this.blockBytes}`);
    this.power.write((how) => {
      this.writes++;
      const copy = new Uint8Array(data);
      if (how === 'torn') {
        const half = this.blockBytes >>> 1;
        copy.set((this.blocks.get(dbn) ?? this.zero).data.subarray(half), half);
      }
      this.blocks.set(dbn, { data: copy, sum });
    });
  }

  /**
   * The harness inspecting the disk it owns, not a read (nothing counted, a failed disk's blocks too):
   * does the block at `dbn` match its stored checksum? A never-written block does (factory zeros).
   */
  verifies(dbn: number): boolean {
    const block = this.blocks.get(dbn);
    return block === undefined || checksum(block.data) === block.sum;
  }

  /** The harness inspecting the disk: has a block been stored at `dbn` (written, or rotted in place)? */
  holds(dbn: number): boolean {
    return this.blocks.has(dbn);
  }

  /**
   * Changes made to this disk other than by its server's writes (a failure, a latent error): a server
   * that caches what it read may keep it while this count stays the same (process targets, protocol 3).
   */
  get changesBehindServer(): number {
    return this.tampered;
  }

  /** Every later access throws DiskFailed; the RAID layer runs degraded. */
  fail(): void {
    this.failed = true;
    this.tampered++;
  }

  /** Silent corruption: flip one byte of the stored block without touching its checksum. */
  plantLatentError(dbn: number, byteIndex = 0): void {
    if (dbn < 0 || dbn >= this.blockCount) throw new RangeError(`disk ${this.id}: no block ${dbn}`);
    const old = this.blocks.get(dbn) ?? this.zero;
    const data = new Uint8Array(old.data);
    const at = byteIndex % this.blockBytes;
    data[at] = data[at]! ^ 0xff;
    this.blocks.set(dbn, { data, sum: old.sum });
    this.tampered++;
  }

  /** A deep copy: the same contents and failure state, for replaying a crash from the same media. */
  clone(power: Power = this.power): Disk {
    const copy = new Disk({ id: this.id, blockCount: this.blockCount, blockBytes: this.blockBytes, power });
    for (const [dbn, block] of this.blocks) copy.blocks.set(dbn, block);
    copy.failed = this.failed;
    return copy;
  }

  private check(dbn: number): void {
    if (this.failed) throw new DiskFailed(this.id);
    if (!Number.isInteger(dbn) || dbn < 0 || dbn >= this.blockCount)
      throw new RangeError(`disk ${this.id}: no block ${dbn}`);
  }
}
