// Typed errors of the simulated hardware and of configuration, and the one assertion helper; any
// target (the reference, a user's module, a process target's host) meets these. Errors a user or a fault
// can cause are classes with actionable messages; an InvariantViolation means a bug in cpsync or in a
// target, never a fault the system is meant to survive.

/** Power was cut: the server that issued the media write is dead until its media are re-mounted. */
export class PowerLoss extends Error {
  override readonly name = 'PowerLoss';
  constructor(readonly afterWrites: number) {
    super(`power lost after media write ${afterWrites}`);
  }
}

/** A configuration that cannot describe real hardware (a RAID-DP group of 1 disk, a 3-byte block). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(message: string) {
    super(message);
  }
}

/** Only a bug can break an invariant; the name says which one. */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
  constructor(readonly invariant: string) {
    super(`invariant violated: ${invariant}`);
  }
}

export function assert(condition: unknown, invariant: string): asserts condition {
  if (!condition) throw new InvariantViolation(invariant);
}

/** A read or write reached a disk that has failed (or was pulled). The RAID layer treats it as missing. */
export class DiskFailed extends Error {
  override readonly name = 'DiskFailed';
  constructor(readonly diskId: string) {
    super(`disk ${diskId} has failed`);
  }
}
