// Power to one server's persistent media (disks and NVRAM): counts media writes and cuts power
// after the k-th, optionally tearing that write. Fault model: a crash falls between any two media
// writes, and the last write before it may land only partly (a torn write); nothing after it lands.

import { PowerLoss } from './errors.ts';

export type WriteLanding = 'whole' | 'torn';

export class Power {
  /** Media writes issued since this power source was created or last restored. */
  writes = 0;
  private on = true;
  private cutAfter: number | null = null;
  private tearCut = false;

  get isOn(): boolean {
    return this.on;
  }

  /** True while a cut is armed and has not fired yet. */
  get isArmed(): boolean {
    return this.cutAfter !== null;
  }

  /** While a cut is armed: the write, counted from now (1 is the next), at which it falls; else null. */
  get cutInWrites(): number | null {
    return this.cutAfter === null ? null : this.cutAfter - this.writes;
  }

  /** Cut power right after media write number `afterWrites` (1-based, counted from now), torn or whole. */
  armCut(afterWrites: number, torn: boolean): void {
    if (!Number.isInteger(afterWrites) || afterWrites < 1)
      throw new RangeError('armCut: afterWrites must be >= 1');
    this.cutAfter = this.writes + afterWrites;
    this.tearCut = torn;
  }

  disarm(): void {
    this.cutAfter = null;
  }

  /** Cut power now, between writes (a crash that tears nothing). */
  cut(): void {
    this.on = false;
    this.cutAfter = null;
  }

  /** Power comes back: the media can be mounted by a new server instance. */
  restore(): void {
    this.on = true;
    this.cutAfter = null;
    this.writes = 0;
  }

  /**
   * Every medium calls this around each write. `land` performs the write, whole or torn.
   * Throws PowerLoss when power is off or is cut by this write (after it landed).
   */
  write(land: (how: WriteLanding) => void): void {
    if (!this.on) throw new PowerLoss(this.writes);
    this.writes++;
    if (this.writes === this.cutAfter) {
      land(this.tearCut ? 'torn' : 'whole');
      this.on = false;
      this.cutAfter = null;
      throw new PowerLoss(this.writes);
    }
    land('whole');
  }
}
