// The built-in conformance targets (the reference implementation and its canaries, each one
// deliberate bug that a campaign must catch) and the loader for a user's own target module.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { referenceTarget } from '../impl/reference_target.ts';
import { shadowPagingTarget } from '../shadow/shadow_target.ts';
import { COMMAND_TARGET_PREFIX, processTarget } from './process_target.ts';
import type { ConformanceTarget } from './target.ts';

export const BUILT_IN_TARGETS: readonly ConformanceTarget[] = [
  referenceTarget(),
  referenceTarget(
    'canary-prior-art-dbn',
    'the prior art: VBN updates written at disk block numbers straight onto the destination disks, bypassing its RAID layer',
    { applyByDiskBlockNumber: true },
    'fail',
  ),
  referenceTarget(
    'canary-store-and-forward',
    'store-and-forward: no CP sync; the destination applies its log file on its own schedule',
    { storeAndForward: true },
    'fail',
  ),
  referenceTarget(
    'canary-early-ack',
    'acknowledges a sync write before the destination logged it',
    { ackBeforeMirror: true },
    'fail',
  ),
  referenceTarget(
    'canary-failover-without-replay',
    "failover promotes the mirror without replaying the source's log file",
    { failoverWithoutReplay: true },
    'fail',
  ),
  referenceTarget(
    'canary-reuse-freed-in-cp',
    'reuses blocks freed in a CP before that CP commits',
    { reuseFreedBeforeCommit: true },
    'fail',
  ),
  shadowPagingTarget(),
];

/**
 * Deviating targets: each the reference with one flag set that breaks exactly one rule of
 * harness/target.ts (named first in its description). Kept apart from BUILT_IN_TARGETS so that the
 * canary campaigns of properties/conformance.test.ts do not run them; builtInTarget and loadTarget
 * find them, and `cpsync targets` lists them.
 */
export const DEVIATING_TARGETS: readonly ConformanceTarget[] = [
  referenceTarget(
    'canary-cp-timer-never-fires',
    'T1: the CP timer never starts a CP; CPs start only when an NVLOG half fills (or at recovery and resync)',
    { cpTimerNeverFires: true },
    'fail',
  ),
  referenceTarget(
    'canary-semi-sync-unbounded-lag',
    'A3: semi-sync writes are acknowledged at once, never waiting for the lag bound',
    { semiSyncUnboundedLag: true },
    'fail',
  ),
  referenceTarget(
    'canary-resync-sends-whole-volume',
    'L3: every resync sends every live block, not only those changed since the common CP',
    { resyncSendsWholeVolume: true },
    'fail',
  ),
  referenceTarget(
    'canary-reads-fail',
    'R1: client reads of a source always return an error',
    { readsFail: true },
    'fail',
  ),
  referenceTarget(
    'canary-spurious-out-of-sync',
    'L1: a source in sync goes out of sync every 7th tick of its clock with no fault, then resyncs',
    { spuriousOutOfSync: true },
    'fail',
  ),
  referenceTarget(
    'canary-nvlog-full-fails-writes',
    "N1: with both NVLOG halves full a write fails ('NVLOG full') instead of stalling",
    { nvlogFullFailsWrites: true },
    'fail',
  ),
  referenceTarget(
    'canary-no-cp-on-full-half',
    'T2: a write that finds the active NVLOG half full starts no CP; it stalls until the timer CP',
    { noCpOnFullHalf: true },
    'fail',
  ),
  referenceTarget(
    'canary-timeout-never-fires',
    'L2/A4: a source never goes out of sync on a timeout; it waits for answers forever',
    { timeoutNeverFires: true },
    'fail',
  ),
  referenceTarget(
    'canary-truncates-log-early',
    "F1: the destination truncates the source's log file when a CP sync arrives, before the mirror committed it",
    { truncateLogEarly: true },
    'fail',
  ),
  referenceTarget(
    'canary-cp-image-early-cut',
    'N2: a CP image leaves out the last write logged before the CP started (carried to the next CP)',
    { cpImageEarlyCut: true },
    'fail',
  ),
  referenceTarget(
    'canary-wraps-out-of-range-lbas',
    'R2: a read or write of an LBA past the end of the volume wraps around into it instead of being refused',
    { wrapOutOfRangeLbas: true },
    'fail',
  ),
  // Exposed by a paused (or drifting) destination, and by no other fault.
  referenceTarget(
    'canary-timers-on-peer-clock',
    "L2/T1 (time): a source's timers advance only when the destination's clock ticks, so a paused destination is never timed out",
    { sourceTimersOnPeerClock: true },
    'fail',
  ),
  // Each exposed by one fault of a single message (a `message-fault` action).
  referenceTarget(
    'canary-no-frame-checksum',
    'M1 (corrupt): frames are decoded without verifying their checksum, so a flipped byte is taken as data',
    { skipFrameChecksum: true },
    'fail',
  ),
  referenceTarget(
    'canary-applies-stale-cp-sync',
    'M1 (stale): the destination applies a CP sync for a CP its mirror already passed',
    { applyStaleCpSync: true },
    'fail',
  ),
  // Exposed by a scrub after a latent error (rule D3, checked on the disks).
  referenceTarget(
    'canary-scrub-repairs-nothing',
    'D3: a scrub returns at once, leaving every latent error on the disks',
    { scrubRepairsNothing: true },
    'fail',
  ),
  // Each exposed only by a workload's data or a log file that wraps (harness/write_contents.ts).
  referenceTarget(
    'canary-dedup-weak-fingerprint',
    "R1 (data): the source dedups writes by a fingerprint of a block's first 64 bytes, so a block one byte off an earlier one further on reads as that one",
    { dedupWeakFingerprint: true },
    'fail',
  ),
  referenceTarget(
    'canary-zero-write-as-hole',
    'R1 (data): the source treats an all-zero write as a hole already there: logged and forwarded, but its volume keeps the old block',
    { zeroWriteAsHole: true },
    'fail',
  ),
  referenceTarget(
    'canary-log-trusts-stale-lap',
    "F3 (wrap): the destination's log file recovery checks a record's epoch and checksums, not its seq: once the ring has wrapped, an earlier lap's record passes for the next",
    { logTrustsStaleLap: true },
    'fail',
  ),
  // Exposed by a power cut in the middle of a rebuild (rule D2): the restart takes the spare for data.
  referenceTarget(
    'canary-labels-spare-first',
    'D2: a source labels a spare an in-sync member of its primary before rebuilding onto it',
    { labelSpareFirst: true },
    'fail',
  ),
  // Exposed only past a RAID group's tolerance (rule D4), where RAID refuses the read.
  referenceTarget(
    'canary-lost-blocks-read-as-zeros',
    'D4: a read the RAID group refuses (past its tolerance) returns a zero block instead of an error',
    { lostBlocksReadAsZeros: true },
    'fail',
  ),
  referenceTarget(
    'canary-lost-volume-stalls-writes',
    'D4/A4: a source whose primary went past its tolerance stalls new writes, waiting for a CP that cannot come',
    { stallWritesWhenLost: true },
    'fail',
  ),
  // Exposed only past the mirror group's tolerance (rule D5), where RAID refuses the CP sync.
  referenceTarget(
    'canary-confirms-lost-mirror',
    'D5/C2: the destination confirms a CP sync its mirror, past its tolerance, could not write: the source completes the CP in sync with a mirror that never committed it',
    { confirmLostMirror: true },
    'fail',
  ),
  // Exposed only by a power cut on a degraded node (rule D6): the restart's parity resync meets a
  // stripe whose data disk is missing.
  referenceTarget(
    'canary-resync-erases-missing-disk',
    "D6: a source restarting with a failed data disk recomputes every stripe's parity from the disks present, erasing the blocks that lived only as parity",
    { resyncOverMissing: true },
    'fail',
  ),
  referenceTarget(
    'canary-root-first',
    "C2 (crash ordering): the destination writes a CP sync's root before the blocks it points to",
    { rootFirst: true },
    'fail',
  ),
];

/** Every target a name finds: the built-in ones, then the deviating ones. */
export const ALL_NAMED_TARGETS: readonly ConformanceTarget[] = [...BUILT_IN_TARGETS, ...DEVIATING_TARGETS];

/** A user error: an unknown target or a module that does not provide one. One line, no stack. */
export class TargetLoadError extends Error {
  override readonly name = 'TargetLoadError';
}

export function builtInTarget(name: string): ConformanceTarget | undefined {
  return ALL_NAMED_TARGETS.find((t) => t.name === name);
}

/**
 * `name` is a built-in target's name, a path to a module exporting a ConformanceTarget, or
 * `cmd:COMMAND ARGS`, a process target (harness/process_target.ts) whose nodes hang after `hangTimeoutMs`.
 */
export async function loadTarget(
  name: string,
  options: { readonly hangTimeoutMs?: number; readonly transcript?: boolean } = {},
): Promise<ConformanceTarget> {
  const builtIn = builtInTarget(name);
  if (builtIn) return builtIn;
  if (name.startsWith(COMMAND_TARGET_PREFIX)) {
    const command = name.slice(COMMAND_TARGET_PREFIX.length);
    try {
      return processTarget({ command, ...options });
    } catch (e) {
      throw new TargetLoadError(`--target-cmd ${command}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!/[./\\]/.test(name))
    throw new TargetLoadError(
      `unknown target '${name}': built-in targets are ${ALL_NAMED_TARGETS.map((t) => t.name).join(', ')}; a module path starts with ./ or /`,
    );
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(name)).href)) as Record<string, unknown>;
  } catch (e) {
    throw new TargetLoadError(
      `cannot load target module ${name}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    );
  }
  const candidate = mod.target ?? mod.default;
  if (!isTarget(candidate))
    throw new TargetLoadError(
      `${name} does not export a conformance target: export 'target' (or a default export) with name, description, expected and boot(spec, media)`,
    );
  return candidate;
}

function isTarget(x: unknown): x is ConformanceTarget {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Record<string, unknown>;
  return (
    typeof t.name === 'string' &&
    typeof t.boot === 'function' &&
    (t.expected === 'pass' || t.expected === 'fail')
  );
}
