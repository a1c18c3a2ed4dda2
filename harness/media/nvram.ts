// Non-volatile RAM: a fixed array of bytes that survives a crash. Fault model: a power cut during a
// write leaves only its first half written (a torn write); the NVLOG's entry checksums detect it.

import { Power } from './power.ts';

export class Nvram {
  readonly bytes: number;
  power: Power;
  writes = 0;
  private readonly memory: Uint8Array;

  constructor(bytes: number, power: Power = new Power()) {
    if (!Number.isInteger(bytes) || bytes < 64) throw new RangeError('NVRAM must hold at least 64 bytes');
    this.bytes = bytes;
    this.power = power;
    this.memory = new Uint8Array(bytes);
  }

  /** A copy of `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    return this.memory.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    this.checkRange(offset, data.length);
    this.power.write((how) => {
      this.writes++;
      const landed = how === 'torn' ? data.subarray(0, data.length >>> 1) : data;
      this.memory.set(landed, offset);
    });
  }

  clone(power: Power = this.power): Nvram {
    const copy = new Nvram(this.bytes, power);
    copy.memory.set(this.memory);
    return copy;
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isInteger(offset) || offset < 0 || length < 0 || offset + length > this.bytes) {
      throw new RangeError(`NVRAM access [${offset}, ${offset + length}) outside [0, ${this.bytes})`);
    }
  }
}
