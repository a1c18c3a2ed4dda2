// Tests of the NVRAM: bounds on every access, write counting, torn writes under a power cut, clones.

import { describe, expect, it } from 'vitest';
import { PowerLoss } from './errors.ts';
import { Nvram } from './nvram.ts';
import { Power } from './power.ts';

describe('Nvram', () => {
  it('holds at least 64 bytes, a whole number of them', () => {
    for (const bytes of [63, 0, -64, 64.5])
      expect(() => new Nvram(bytes), `${bytes}`).toThrow(new RangeError('NVRAM must hold at least 64 bytes'));
    expect(new Nvram(64).bytes).toBe(64);
  });

  it('refuses every access outside its bytes, and allows empty ones at the end', () => {
    const nvram = new Nvram(64);
    const cases: [number, number, string][] = [
      [-1, 1, 'NVRAM access [-1, 0) outside [0, 64)'],
      [0.5, 1, 'NVRAM access [0.5, 1.5) outside [0, 64)'],
      [60, 5, 'NVRAM access [60, 65) outside [0, 64)'],
      [64, 1, 'NVRAM access [64, 65) outside [0, 64)'],
      [2, -1, 'NVRAM access [2, 1) outside [0, 64)'],
    ];
    for (const [offset, length, message] of cases) {
      expect(() => nvram.read(offset, length), message).toThrow(new RangeError(message));
      if (length >= 0)
        expect(() => nvram.write(offset, new Uint8Array(length)), message).toThrow(new RangeError(message));
    }
    expect(nvram.writes).toBe(0);
    expect(nvram.read(64, 0)).toEqual(new Uint8Array(0));
    expect(nvram.read(0, 0)).toEqual(new Uint8Array(0));
    nvram.write(60, Uint8Array.of(1, 2, 3, 4));
    expect(nvram.read(59, 5)).toEqual(Uint8Array.of(0, 1, 2, 3, 4));
  });

  it('counts writes, returns copies, and tears the write a cut falls on', () => {
    const power = new Power();
    const nvram = new Nvram(64, power);
    nvram.write(0, Uint8Array.of(1, 2, 3, 4));
    nvram.write(8, Uint8Array.of(5));
    expect(nvram.writes).toBe(2);
    const read = nvram.read(0, 4);
    read.fill(9);
    expect(nvram.read(0, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    power.armCut(1, true);
    expect(() => nvram.write(0, Uint8Array.of(7, 7, 7, 7))).toThrow(PowerLoss);
    // Torn: the first half landed, the rest is old.
    expect(nvram.read(0, 4)).toEqual(Uint8Array.of(7, 7, 3, 4));
    expect(() => nvram.write(0, Uint8Array.of(8))).toThrow(PowerLoss);
    expect(nvram.read(0, 1)).toEqual(Uint8Array.of(7));
  });

  it('clones its contents onto another power source, independently', () => {
    const nvram = new Nvram(64);
    nvram.write(3, Uint8Array.of(42));
    const power = new Power();
    const copy = nvram.clone(power);
    expect(copy.power).toBe(power);
    expect(copy.read(0, 64)).toEqual(nvram.read(0, 64));
    copy.write(3, Uint8Array.of(43));
    expect(nvram.read(3, 1)).toEqual(Uint8Array.of(42));
    expect(nvram.clone().power).toBe(nvram.power);
  });
});
