// Coverage of the statechart by the generated paths: how many paths reach each state (active after a
// step) and take each transition. Pure: replays the paths; model/coverage_report.ts writes the files.

import { initialTransition } from 'xstate';
import type { Mode } from './events.ts';
import {
  type ChartState,
  type ChartTransition,
  chartStates,
  chartTransitions,
  stateIdOf,
  transitionIdOf,
} from './inventory.ts';
import { type ModelPath, PATH_SOURCE_ID } from './paths.ts';
import { type ModelSnapshot, nextSnapshot, relationshipMachine } from './statechart.ts';

export interface CoverageRecord {
  readonly kind: 'state' | 'transition';
  readonly id: string;
  /** How many generated paths reach it. */
  readonly paths: number;
  /** For a state its type; for a transition its targets and guard. */
  readonly detail: string;
  /**
   * How many paths reach it on a target too (harness/model_paths.ts): the part of each path the
   * target realised step by step. Absent when the paths were replayed on the model alone.
   */
  readonly realised?: number;
}

export interface Coverage {
  readonly pathCount: number;
  readonly stepCount: number;
  readonly records: readonly CoverageRecord[];
}

interface Reached {
  readonly states: ReadonlySet<string>;
  readonly transitions: ReadonlySet<string>;
}

function activeStates(snapshot: ModelSnapshot): string[] {
  return snapshot._nodes.map((n) => stateIdOf(n));
}

/** Replays one path: what it reaches. Throws if a step is not enabled (a path out of date with the chart). */
export function reachedBy(path: ModelPath, initial: ModelSnapshot): Reached {
  const states = new Set(activeStates(initial));
  const transitions = new Set<string>();
  let snapshot = initial;
  for (const [i, step] of path.steps.entries()) {
    if (!snapshot.can(step.event))
      throw new Error(`${path.target}: step ${i} (${step.event.type}) is not enabled`);
    for (const t of relationshipMachine.getTransitionData(snapshot, step.event))
      transitions.add(transitionIdOf(t));
    snapshot = nextSnapshot(snapshot, step.event);
    for (const id of activeStates(snapshot)) states.add(id);
  }
  return { states, transitions };
}

export function initialSnapshotFor(mode: Mode): ModelSnapshot {
  return initialTransition(relationshipMachine, { sourceId: PATH_SOURCE_ID, mode })[0];
}

export function measureCoverage(paths: readonly ModelPath[]): Coverage {
  const initial = new Map<Mode, ModelSnapshot>();
  const stateCounts = new Map<string, number>();
  const transitionCounts = new Map<string, number>();
  const bump = (m: Map<string, number>, id: string) => m.set(id, (m.get(id) ?? 0) + 1);
  for (const path of paths) {
    if (!initial.has(path.mode)) initial.set(path.mode, initialSnapshotFor(path.mode));
    const reached = reachedBy(path, initial.get(path.mode)!);
    for (const id of reached.states) bump(stateCounts, id);
    for (const id of reached.transitions) bump(transitionCounts, id);
  }
  const records = [
    ...chartStates().map((s) => stateRecord(s, stateCounts.get(s.id) ?? 0)),
    ...chartTransitions().map((t) => transitionRecord(t, transitionCounts.get(t.id) ?? 0)),
  ];
  return { pathCount: paths.length, stepCount: paths.reduce((n, p) => n + p.steps.length, 0), records };
}

function stateRecord(s: ChartState, paths: number): CoverageRecord {
  return { kind: 'state', id: s.id, paths, detail: s.type };
}

function transitionRecord(t: ChartTransition, paths: number): CoverageRecord {
  const to = t.targets.length === 0 ? '(stays)' : t.targets.join(', ');
  return { kind: 'transition', id: t.id, paths, detail: `-> ${to}${t.guard ? ` [${t.guard}]` : ''}` };
}

/**
 * `c` with each record's `realised` count taken from `realisedCoverage`: the coverage of the prefixes
 * of the same paths that a target realised.
 */
export function withRealised(c: Coverage, realisedCoverage: Coverage): Coverage {
  const counts = new Map(realisedCoverage.records.map((r) => [`${r.kind} ${r.id}`, r.paths] as const));
  return {
    ...c,
    records: c.records.map((r) => ({ ...r, realised: counts.get(`${r.kind} ${r.id}`) ?? 0 })),
  };
}

export function unreached(c: Coverage): CoverageRecord[] {
  return c.records.filter((r) => r.paths === 0);
}

export function coverageJson(c: Coverage): string {
  return `${JSON.stringify({ pathCount: c.pathCount, stepCount: c.stepCount, records: c.records }, null, 2)}\n`;
}

export function coverageMarkdown(c: Coverage, intro: readonly string[] = []): string {
  const states = c.records.filter((r) => r.kind === 'state');
  const transitions = c.records.filter((r) => r.kind === 'transition');
  const realised = c.records.some((r) => r.realised !== undefined);
  const row = (r: CoverageRecord) =>
    `| \`${r.id}\` | ${r.paths} | ${realised ? `${r.realised ?? 0} | ` : ''}${r.detail.replaceAll('|', '\\|')} |`;
  const header = (first: string, last: string) =>
    realised
      ? [`| ${first} | paths | realised on the reference | ${last} |`, '| --- | ---: | ---: | --- |']
      : [`| ${first} | paths | ${last} |`, '| --- | ---: | --- |'];
  const missing = unreached(c);
  return [
    '# Statechart coverage by the generated model paths',
    '',
    ...intro,
    `${c.pathCount} paths, ${c.stepCount} steps. States reached: ${states.filter((r) => r.paths > 0).length} of ` +
      `${states.length}; transitions taken: ${transitions.filter((r) => r.paths > 0).length} of ${transitions.length}.` +
      (missing.length === 0
        ? ' Nothing is unreached.'
        : ` Unreached: ${missing.map((r) => r.id).join(', ')}.`),
    ...(realised
      ? [
          '',
          `Realised on the reference (the steps of each path it showed in order, those it did in one ` +
            `tick together, before it first did something else): states ${states.filter((r) => (r.realised ?? 0) > 0).length} of ${states.length}; ` +
            `transitions ${transitions.filter((r) => (r.realised ?? 0) > 0).length} of ${transitions.length}.`,
        ]
      : []),
    '',
    '## States',
    '',
    ...header('state', 'type'),
    ...states.map(row),
    '',
    '## Transitions',
    '',
    ...header('transition', 'target and guard'),
    ...transitions.map(row),
    '',
  ].join('\n');
}
