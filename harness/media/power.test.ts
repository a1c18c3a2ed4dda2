// Tests of the power source under one server's media: write counting, a cut armed after the k-th write
// from now (torn or whole), a cut now, restore; and that nothing lands once the power is off.

import { describe, expect, it } from 'vitest';
import { PowerLoss } from './errors.ts';
import { Power, type WriteLanding } from './power.ts';

describe('Power', () => {
  it('counts writes and cuts after the k-th from now, torn or whole', () => {
    const power = new Power();
    const landings: string[] = [];
    const write = () => power.write((how) => landings.push(how));
    write();
    expect([power.writes, power.isOn, power.isArmed]).toEqual([1, true, false]);
    power.armCut(2, false);
    expect(power.isArmed).toBe(true);
    write();
    expect(() => write()).toThrow(new PowerLoss(3));
    expect([power.isOn, power.isArmed]).toEqual([false, false]);
    expect(() => write()).toThrow(PowerLoss);
    expect(landings).toEqual(['whole', 'whole', 'whole']);
    power.restore();
    expect([power.writes, power.isOn, power.isArmed]).toEqual([0, true, false]);
    power.armCut(1, true);
    expect(() => write()).toThrow(PowerLoss);
    expect(landings.at(-1)).toBe('torn');
  });

  it('says at which write from now an armed cut falls (what a process target is told as cutAt)', () => {
    const power = new Power();
    expect(power.cutInWrites).toBeNull();
    power.write(() => {});
    power.armCut(3, false);
    expect(power.cutInWrites).toBe(3);
    power.write(() => {});
    expect(power.cutInWrites).toBe(2);
    power.write(() => {});
    expect(power.cutInWrites).toBe(1);
    expect(() => power.write(() => {})).toThrow(PowerLoss);
    expect(power.cutInWrites).toBeNull();
  });

  it('disarms, cuts now, and refuses a cut that is not after some write', () => {
    const power = new Power();
    power.armCut(1, true);
    power.disarm();
    expect(power.isArmed).toBe(false);
    power.write(() => {});
    expect(power.isOn).toBe(true);
    power.armCut(5, false);
    power.cut();
    expect([power.isOn, power.isArmed]).toEqual([false, false]);
    expect(() => power.write(() => {})).toThrow(new PowerLoss(1));
    for (const k of [0, -1, 1.5])
      expect(() => power.armCut(k, false), `${k}`).toThrow(
        new RangeError('armCut: afterWrites must be >= 1'),
      );
  });
});

describe('Power, past a cut', () => {
  it('lands nothing once off, counts no write it refused, and restore clears an armed cut', () => {
    const power = new Power();
    const landings: WriteLanding[] = [];
    power.armCut(2, true);
    power.write((how) => landings.push(how));
    expect(power.writes).toBe(1);
    expect(() => power.write((how) => landings.push(how))).toThrow(new PowerLoss(2));
    // The cut write landed (torn), then the power went off: later writes land nothing, count nothing.
    expect(landings).toEqual(['whole', 'torn']);
    expect(() => power.write((how) => landings.push(how))).toThrow(new PowerLoss(2));
    expect([power.writes, landings.length]).toEqual([2, 2]);
    power.restore();
    power.armCut(1, false);
    power.restore();
    expect([power.isArmed, power.cutInWrites]).toEqual([false, null]);
    power.write((how) => landings.push(how));
    expect([power.isOn, power.writes, landings.at(-1)]).toEqual([true, 1, 'whole']);
  });

  it('a second armCut replaces the first, counted from its own now, with its own tearing', () => {
    const power = new Power();
    const landings: WriteLanding[] = [];
    const write = () => power.write((how) => landings.push(how));
    power.armCut(1, true);
    power.armCut(3, false);
    write();
    write();
    expect(power.isOn).toBe(true);
    expect(() => write()).toThrow(new PowerLoss(3));
    expect(landings).toEqual(['whole', 'whole', 'whole']);
    // A disarmed cut never falls, however many writes pass its write.
    power.restore();
    power.armCut(1, true);
    power.disarm();
    expect(power.cutInWrites).toBeNull();
    for (let i = 0; i < 3; i++) write();
    expect([power.isOn, landings.slice(3)]).toEqual([true, ['whole', 'whole', 'whole']]);
  });
});
