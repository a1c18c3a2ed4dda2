// What a target hands back must have the shape harness/target.ts gives it: an observation with every
// source of the world and each field of its type, effects of a known kind naming nodes of the world.
// A target that returns something else breaks the interface (the world throws a MalformedOutput, a
// `target-contract` verdict said in words), where an unchecked value would send a property, the model
// or the network astray. The checks are plain comparisons, cheap enough for every step.

import type { NodeId, WorldSpec } from './target.ts';

const RELATIONSHIPS: ReadonlySet<unknown> = new Set(['in-sync', 'out-of-sync', 'resyncing', 'failed-over']);

function isCount(x: unknown): boolean {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function show(x: unknown): string {
  if (typeof x === 'string') return `'${x}'`;
  if (x === null || typeof x !== 'object') return String(x);
  return Array.isArray(x) ? 'an array' : 'an object';
}

/** What is wrong with `obs` as an Observation of a world built from `spec`, or null. */
export function observationProblem(obs: unknown, spec: WorldSpec): string | null {
  if (typeof obs !== 'object' || obs === null) return `observe() returned ${show(obs)}, not an Observation`;
  const o = obs as { destinationUp?: unknown; sources?: unknown };
  if (typeof o.destinationUp !== 'boolean') return `destinationUp is ${show(o.destinationUp)}, not a boolean`;
  if (typeof o.sources !== 'object' || o.sources === null)
    return `sources is ${show(o.sources)}, not an object`;
  const sources = o.sources as Record<string, unknown>;
  for (const { id } of spec.sources) {
    const s = sources[id] as Record<string, unknown> | undefined;
    if (typeof s !== 'object' || s === null) return `sources.${id} is ${show(s)}: every source is observed`;
    if (typeof s.up !== 'boolean') return `sources.${id}.up is ${show(s.up)}, not a boolean`;
    if (!RELATIONSHIPS.has(s.relationship))
      return `sources.${id}.relationship is ${show(s.relationship)}, not one of ${[...RELATIONSHIPS].join(', ')}`;
    for (const field of ['primaryCp', 'mirrorCp', 'pendingWrites'] as const)
      if (!isCount(s[field]))
        return `sources.${id}.${field} is ${show(s[field])}, not a non-negative integer`;
    if (typeof s.cpInProgress !== 'boolean')
      return `sources.${id}.cpInProgress is ${show(s.cpInProgress)}, not a boolean`;
    const path = s.relationshipPath;
    if (path !== undefined && !(Array.isArray(path) && path.every((r) => RELATIONSHIPS.has(r))))
      return `sources.${id}.relationshipPath holds something other than relationship states`;
  }
  return null;
}

/** What is wrong with `effect` as an Effect in a world of `nodes`, or null. */
export function effectProblem(effect: unknown, nodes: readonly NodeId[]): string | null {
  if (typeof effect !== 'object' || effect === null) return `an effect is ${show(effect)}, not an Effect`;
  const e = effect as Record<string, unknown>;
  if (e.kind === 'send') {
    for (const end of ['from', 'to'] as const)
      if (!nodes.includes(e[end] as NodeId))
        return `a send effect's ${end} is ${show(e[end])}, not a node of this world (${nodes.join(', ')})`;
    if (e.from === e.to) return `a send effect goes from ${show(e.from)} to itself`;
    if (!(e.bytes instanceof Uint8Array))
      return `a send effect's bytes are ${show(e.bytes)}, not a Uint8Array`;
    return null;
  }
  if (e.kind === 'ack') {
    if (!nodes.includes(e.node as NodeId))
      return `an ack effect's node is ${show(e.node)}, not a node of this world (${nodes.join(', ')})`;
    if (!isCount(e.writeId)) return `an ack effect's writeId is ${show(e.writeId)}, not a write id`;
    if (typeof e.ok !== 'boolean') return `an ack effect's ok is ${show(e.ok)}, not a boolean`;
    if (e.error !== undefined && typeof e.error !== 'string')
      return `an ack effect's error is ${show(e.error)}, not a string`;
    return null;
  }
  return `an effect's kind is ${show(e.kind)}, not 'send' or 'ack'`;
}
