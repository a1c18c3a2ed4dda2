// Typed errors of the reference's storage stack (RAID groups, the volume). The errors of the simulated
// hardware, of configuration and the assertion helper are the harness's: harness/media/errors.ts.

/** More disks of one RAID group are lost than its level tolerates: the group refuses to guess data. */
export class RaidFailure extends Error {
  override readonly name = 'RaidFailure';
  constructor(message: string) {
    super(message);
  }
}

/** A volume cannot be mounted or used (no valid root, out of space, an LBA out of range). */
export class VolumeError extends Error {
  override readonly name = 'VolumeError';
  constructor(message: string) {
    super(message);
  }
}
