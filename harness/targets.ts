// The built-in conformance targets (the reference implementation and its canaries, each one
// deliberate bug that a campaign must catch) and the loader for a user's own target module.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { referenceTarget } from '../impl/reference_target.ts';
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
];

/** A user error: an unknown target or a module that does not provide one. One line, no stack. */
export class TargetLoadError extends Error {
  override readonly name = 'TargetLoadError';
}

export function builtInTarget(name: string): ConformanceTarget | undefined {
  return BUILT_IN_TARGETS.find((t) => t.name === name);
}

/** `name` is a built-in target's name, or a path to a module exporting a ConformanceTarget. */
export async function loadTarget(name: string): Promise<ConformanceTarget> {
  const builtIn = builtInTarget(name);
  if (builtIn) return builtIn;
  if (!/[./\\]/.test(name))
    throw new TargetLoadError(
      `unknown target '${name}': built-in targets are ${BUILT_IN_TARGETS.map((t) => t.name).join(', ')}; a module path starts with ./ or /`,
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
