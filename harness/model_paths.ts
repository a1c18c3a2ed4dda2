// Runs the model's generated paths (model/paths.ts: shortest paths to every graph state, and the
// transition cover) against a conformance target, through the world and the same lockstep model
// checker (refinement mapping) that the campaigns use.
//
// A path's environment steps are done to the world (each only if the fault atlas and the model enable
// it, as in a campaign); its observation steps are what the target must do on its own, so the driver
// lets time pass, one observed tick at a time and at most MAX_WAIT_TICKS, until the target shows them.
// A step is realised when the target's observation shows the step's expected state through the
// refinement mapping (model/refinement.ts: each region's control state allowed, the CP and pending
// counters equal, the link the world's) and the target showed the observation events of the path's
// steps since the last realised one (so a target that did nothing does not pass for one that went out
// of sync and back). Observation steps a target shows in one world step are realised together. The
// ticks the driver adds while it waits are TICK events the path does not have: a realised path is the
// path with time let pass where the target needed it. `exact` says more: the lockstep model itself was
// in each compared step's state, the unobservable parts (CP phase, a CP sync under way) included.
//
// Two outcomes are kept apart:
// - a violation (the model refused what the target showed, the target's state left the refinement
//   mapping, an `always` property broke, or the target broke the interface) is a failure;
// - an unrealised path (the target never got to the step's state in its own timing, or the world's
//   fault atlas does not offer the step's fault) is not: the model allows more than one
//   implementation does, e.g. faster CP phases. It is counted.

import { describeEvent, type EnvironmentEvent } from '../model/events.ts';
import { initialModelState } from '../model/lockstep.ts';
import {
  type ExpectedState,
  expectedOf,
  type ModelPath,
  PATH_SOURCE_ID,
  type PathStep,
} from '../model/paths.ts';
import { type AckEffect, expectedControl, observationEvents } from '../model/refinement.ts';
import type { LinkState } from '../model/statechart.ts';
import { ALWAYS, type Property } from '../properties/properties.ts';
import { ModelChecker } from './model_checker.ts';
import { type PresetOptions, smallWorld } from './presets.ts';
import { Run, type Violation } from './runner.ts';
import { describeAction } from './schedule.ts';
import { type ConformanceTarget, DESTINATION, type Observation, type WorldSpec } from './target.ts';
import { World, type WorldAction } from './world.ts';

/** Ticks the driver waits for one observation: several CP intervals (10 ticks) and ack timeouts (4). */
export const MAX_WAIT_TICKS = 40;

/** The disk a path's disk events use on each side: the first of the source's or its mirror's group. */
const SOURCE_DISK = { node: PATH_SOURCE_ID, group: 'primary', index: 0 } as const;
const DESTINATION_DISK = { node: DESTINATION, group: `mirror:${PATH_SOURCE_ID}`, index: 0 } as const;

/**
 * The world action an environment event of a path is, for the path's one source. A latent error goes
 * to DBN 0 (the low blocks hold the roots and maps, where it matters); a mid-CP power cut is armed to
 * fall after that many of the source's media writes from now, torn if the event says so.
 */
export function worldActionOf(event: EnvironmentEvent): WorldAction {
  const source = PATH_SOURCE_ID;
  switch (event.type) {
    case 'WRITE':
      return { kind: 'write', source, lba: event.lba };
    case 'READ':
      return { kind: 'read', source, lba: event.lba };
    case 'TICK':
      return { kind: 'tick', ticks: 1 };
    case 'PARTITION':
      return { kind: 'partition', source };
    case 'HEAL':
      return { kind: 'heal', source };
    case 'CRASH_SOURCE':
      return event.midCpWrite === undefined
        ? { kind: 'crash', node: source }
        : { kind: 'crash', node: source, afterWrites: event.midCpWrite, torn: event.torn ?? false };
    case 'RESTART_SOURCE':
      return { kind: 'restart', node: source };
    case 'CRASH_DEST':
      return { kind: 'crash', node: DESTINATION };
    case 'RESTART_DEST':
      return { kind: 'restart', node: DESTINATION };
    case 'DISK_FAIL':
      return { kind: 'fail-disk', ...(event.side === 'source' ? SOURCE_DISK : DESTINATION_DISK) };
    case 'LATENT_ERROR':
      return { kind: 'latent-error', ...(event.side === 'source' ? SOURCE_DISK : DESTINATION_DISK), dbn: 0 };
    case 'REPLACE_DISK':
      return { kind: 'replace-disk', ...(event.side === 'source' ? SOURCE_DISK : DESTINATION_DISK) };
    case 'FAILOVER':
      return { kind: 'failover', source };
    case 'VOLUME_LOST':
      // Paths fail SOURCE_DISK first (DISK_FAIL): the next disk takes the group past its tolerance.
      return { kind: 'fail-disk', ...SOURCE_DISK, index: SOURCE_DISK.index + 1, beyond: true };
    case 'MIRROR_LOST':
      // The same on the destination, whose RAID-DP mirror survives two: the path failed DESTINATION_DISK
      // (DISK_FAIL), `worldActionsOf` fails the next, and this the third.
      return { kind: 'fail-disk', ...DESTINATION_DISK, index: DESTINATION_DISK.index + 2, beyond: true };
    case 'DISK_REPAIRED':
      // The harness sees a repair on its disks; a scrub is what makes one (of a latent error).
      return { kind: 'scrub', node: event.side === 'source' ? source : DESTINATION };
  }
}

/**
 * The world actions an environment event of a path is: one, but for MIRROR_LOST. The graph takes one
 * fault per side (model/paths.ts), and the mirror's RAID-DP group survives two failed disks: the
 * second, within its tolerance, goes first.
 */
export function worldActionsOf(event: EnvironmentEvent): WorldAction[] {
  const action = worldActionOf(event);
  if (event.type !== 'MIRROR_LOST') return [action];
  return [{ kind: 'fail-disk', ...DESTINATION_DISK, index: DESTINATION_DISK.index + 1 }, action];
}

/** The world a path runs in: one source in the path's mode, a small volume (paths use LBAs 0 and 1). */
export function pathWorldSpec(path: ModelPath, preset: PresetOptions = {}): WorldSpec {
  return smallWorld({ lbaCount: 16, ...preset, sources: 1, mode: path.mode });
}

/** Why a path was not realised: the step it stopped at and what happened there. */
export interface Unrealised {
  /** 0-based index of the path step not reached. */
  readonly step: number;
  /**
   * 'refused': the world's fault atlas or the lockstep model did not enable the step's action (the
   * lockstep model is fed by the target, so it may sit elsewhere than the path's model); 'overtaken':
   * the target committed a CP past the step's (and the observations' right after it) before showing
   * its state, so it never will; 'timeout': it did not get there within MAX_WAIT_TICKS.
   */
  readonly reason: 'refused' | 'overtaken' | 'timeout';
  readonly detail: string;
}

export interface PathRunResult {
  readonly path: ModelPath;
  /** A refinement violation or a broken property: a failure. */
  readonly violation?: Violation & { readonly pathStep: number; readonly detail: string };
  /** Every step's expected state and events were shown by the target, in order (see the header). */
  readonly realised: boolean;
  /**
   * Realised, and at every step the lockstep model itself was in the expected state: the unobservable
   * parts too (the CP phase, whether a CP sync is under way), as the model derives them from the target.
   */
  readonly exact: boolean;
  /** Path steps realised before the run stopped (all of them when realised). */
  readonly stepsRealised: number;
  readonly unrealised?: Unrealised;
  /** World actions run, the driver's waiting ticks included. */
  readonly worldSteps: number;
  /** Ticks the driver added while waiting for the target. */
  readonly waitTicks: number;
  /** With `log`: each world action and the lockstep model's state after it. */
  readonly log: readonly string[];
}

export interface PathRunOptions {
  readonly preset?: PresetOptions;
  readonly seed?: number;
  /** Properties checked after every step besides the model: the `always` ones by default. */
  readonly properties?: readonly Property[];
  readonly maxWaitTicks?: number;
  /** Keep a line per world action with the lockstep model's state after it (for failure messages). */
  readonly log?: boolean;
}

const sameExpected = (a: ExpectedState, b: ExpectedState): boolean =>
  a.primaryCp === b.primaryCp &&
  a.mirrorCp === b.mirrorCp &&
  a.pendingWrites === b.pendingWrites &&
  a.control.source === b.control.source &&
  a.control.destination === b.control.destination &&
  a.control.link === b.control.link &&
  a.control.relationship === b.control.relationship;

export function describeExpected(e: ExpectedState): string {
  const c = e.control;
  return (
    `source ${c.source}, destination ${c.destination}, link ${c.link}, relationship ${c.relationship}; ` +
    `primaryCp ${e.primaryCp}, mirrorCp ${e.mirrorCp}, pending ${e.pendingWrites}`
  );
}

/**
 * Whether a target's observation shows `expected`, by the refinement mapping (model/refinement.ts):
 * each region's state is one the observation allows, the link is the world's, and the counters are
 * compared where `compare` compares them (not those of a node that is down).
 */
export function shows(observation: Observation, link: LinkState, expected: ExpectedState): boolean {
  const o = observation.sources[PATH_SOURCE_ID]!;
  const allowed = expectedControl(o, observation.destinationUp);
  const c = expected.control;
  const region = (states: readonly string[], state: string) => states.length === 0 || states.includes(state);
  return (
    region(allowed.source, c.source) &&
    region(allowed.destination, c.destination) &&
    region(allowed.relationship, c.relationship) &&
    link === c.link &&
    (!o.up || o.primaryCp === expected.primaryCp) &&
    (!observation.destinationUp || o.mirrorCp === expected.mirrorCp) &&
    (!o.up || c.destination === 'promoted' || o.pendingWrites === expected.pendingWrites)
  );
}

/** Runs one path against `target`; deterministic (the world's seed is fixed, the link perfect). */
export function runModelPath(
  target: ConformanceTarget,
  path: ModelPath,
  options: PathRunOptions = {},
): PathRunResult {
  const maxWait = options.maxWaitTicks ?? MAX_WAIT_TICKS;
  const world = new World({
    spec: pathWorldSpec(path, options.preset),
    target,
    seed: options.seed ?? 1,
    trace: false,
  });
  const checker = new ModelChecker();
  // The runner's machinery: its fault atlas, the checker in lockstep, the properties after every step.
  const run = new Run(world, { checkers: [checker], properties: options.properties ?? ALWAYS });
  const initial = initialModelState({ sourceId: PATH_SOURCE_ID, mode: path.mode });
  const modelNow = (): ExpectedState => expectedOf((checker.modelOf(PATH_SOURCE_ID) ?? initial).snapshot);
  const steps = path.steps;
  let waitTicks = 0;
  // Whether the lockstep model itself was in each matched step's state, not only the observation.
  let exact = true;
  const log: string[] = [];

  const result = (
    stepsRealised: number,
    extra: Pick<PathRunResult, 'violation' | 'unrealised'>,
  ): PathRunResult => ({
    path,
    ...extra,
    realised: stepsRealised === steps.length && extra.violation === undefined,
    exact: stepsRealised === steps.length && extra.violation === undefined && exact,
    stepsRealised,
    worldSteps: run.executed.length,
    waitTicks,
    log,
  });

  // What the target showed since the path's last realised step: the observation events of each world
  // step (refinement.ts's `observationEvents`, as the model checker derives them), as printed.
  let shown: string[] = [];
  let observation = world.observe();
  let answered = 0;

  /** Runs one action; 'refused' when the atlas or the model does not enable it (the runner skips it). */
  const act = (action: WorldAction): Violation | 'refused' | null => {
    const before = run.executed.length;
    const v = run.safety([action]);
    const refused = run.executed.length === before;
    if (!refused) {
      const next = world.observe();
      const acks: AckEffect[] = [];
      for (; answered < world.answers.length; answered++) {
        const w = world.writeRecord(world.answers[answered]!)!;
        // The world's answers for a server that went down are not the target's (as in the checker).
        if (w.outcome!.byWorld !== true)
          acks.push({ kind: 'ack', node: w.source, writeId: w.writeId, ok: w.outcome!.ok });
      }
      const events = observationEvents(
        observation.sources[PATH_SOURCE_ID]!,
        next.sources[PATH_SOURCE_ID]!,
        acks,
      );
      shown.push(...events.map(describeEvent));
      observation = next;
    }
    if (options.log)
      log.push(`${describeAction(action)}${refused ? ' (refused)' : ''} -> ${describeExpected(modelNow())}`);
    return refused ? 'refused' : v;
  };

  /** The target showed every observation event of steps `from`..`k` since the last realised step. */
  const showedEvents = (from: number, k: number): boolean => {
    const pool = [...shown];
    for (let i = from; i <= k; i++) {
      if (steps[i]!.family !== 'observation') continue;
      const at = pool.indexOf(describeEvent(steps[i]!.event));
      if (at < 0) return false;
      pool.splice(at, 1);
    }
    return true;
  };

  /**
   * The furthest step from `from` whose expected state the target shows now, having shown the events
   * of the observation steps on the way: `from` itself, or one of the observation steps right after
   * it, which the target may do in the same world step. The events matter: a state can come back (out
   * of sync, resyncing, in sync again), and a target that did nothing must not pass for one that went
   * round.
   */
  const reached = (from: number): number => {
    const link = world.network.isPartitioned(PATH_SOURCE_ID, DESTINATION) ? 'partitioned' : 'connected';
    let best = -1;
    for (let k = from; k < steps.length; k++) {
      if (k > from && steps[k]!.family !== 'observation') break;
      if (shows(observation, link, steps[k]!.expected) && showedEvents(from, k)) best = k;
    }
    if (best >= 0) {
      shown = [];
      if (!sameExpected(modelNow(), steps[best]!.expected)) exact = false;
    }
    return best;
  };

  /**
   * The target committed past every CP the steps from `from` to the end of their observation run
   * expect: committed CPs never go back (the model refuses it), so waiting longer cannot show them.
   */
  const overtaken = (from: number): boolean => {
    const o = observation.sources[PATH_SOURCE_ID]!;
    let last = from;
    while (last + 1 < steps.length && steps[last + 1]!.family === 'observation') last++;
    for (let k = from; k <= last; k++) {
      const e = steps[k]!.expected;
      const primaryBehind = !o.up || o.relationship === 'failed-over' || o.primaryCp <= e.primaryCp;
      const mirrorBehind = !observation.destinationUp || o.mirrorCp <= e.mirrorCp;
      if (primaryBehind && mirrorBehind) return false;
    }
    return true;
  };

  const failed = (at: number, v: Violation, during: string): PathRunResult =>
    result(at, {
      violation: {
        ...v,
        pathStep: at,
        detail: `${v.property}: ${v.message} (during ${during}; path expects ${describeExpected(steps[at]!.expected)})`,
      },
    });

  let next = 0;
  while (next < steps.length) {
    const from = next;
    const step: PathStep = steps[from]!;
    if (step.family === 'environment') {
      const actions = worldActionsOf(step.event as EnvironmentEvent);
      let out: ReturnType<typeof act> = null;
      let action = actions[0]!;
      for (const a of actions) {
        action = a;
        out = act(a);
        if (out !== null) break;
      }
      if (out === 'refused')
        return result(from, {
          unrealised: {
            step: from,
            reason: 'refused',
            detail: `${describeAction(action)} not enabled; the lockstep model is at ${describeExpected(modelNow())}`,
          },
        });
      if (out !== null) return failed(from, out, describeAction(action));
      const k = reached(from);
      if (k >= 0) {
        next = k + 1;
        continue;
      }
      // Not there yet: an armed power cut falls at a later media write, or the target answered in a
      // later step; wait for it as for an observation.
    }
    let k = -1;
    let waited = 0;
    while (k < 0 && waited < maxWait && !overtaken(from)) {
      waited++;
      waitTicks++;
      const out = act({ kind: 'tick', ticks: 1 });
      if (out === 'refused') throw new Error('a tick is always enabled');
      if (out !== null) return failed(from, out, `a tick waiting for ${describeEvent(step.event)}`);
      k = reached(from);
    }
    if (k < 0)
      return result(from, {
        unrealised: {
          step: from,
          reason: waited < maxWait ? 'overtaken' : 'timeout',
          detail: `after ${describeEvent(step.event)} the path expects ${describeExpected(step.expected)}; after ${waited} ticks the lockstep model is at ${describeExpected(modelNow())}`,
        },
      });
    next = k + 1;
  }
  return result(steps.length, {});
}

/** A path as a failure message prints it: its target, mode and steps, the failing one marked. */
export function describePath(path: ModelPath, mark?: number): string {
  const lines = path.steps.map(
    (s, i) => `${i === mark ? '>' : ' '} ${i}. ${describeEvent(s.event)} [${s.family}]`,
  );
  return [`${path.purpose} path to ${path.target} (${path.mode})`, ...lines].join('\n');
}

/** What one mode's paths showed on a target: the figures the path test and the coverage report print. */
export interface PathSummary {
  readonly mode: string;
  readonly paths: number;
  readonly realised: number;
  readonly exact: number;
  readonly violations: number;
  readonly steps: number;
  readonly stepsRealised: number;
  readonly worldSteps: number;
  /** Unrealised paths by where they stopped: `${reason} ${event type}`, most frequent first. */
  readonly stops: readonly (readonly [string, number])[];
}

export function summarisePathRuns(results: readonly PathRunResult[]): PathSummary[] {
  const modes = [...new Set(results.map((r) => r.path.mode))];
  return modes.map((mode) => {
    const rs = results.filter((r) => r.path.mode === mode);
    const stops = new Map<string, number>();
    for (const r of rs)
      if (r.unrealised) {
        const key = `${r.unrealised.reason} ${r.path.steps[r.unrealised.step]!.event.type}`;
        stops.set(key, (stops.get(key) ?? 0) + 1);
      }
    const sum = (f: (r: PathRunResult) => number) => rs.reduce((n, r) => n + f(r), 0);
    return {
      mode,
      paths: rs.length,
      realised: rs.filter((r) => r.realised).length,
      exact: rs.filter((r) => r.exact).length,
      violations: rs.filter((r) => r.violation).length,
      steps: sum((r) => r.path.steps.length),
      stepsRealised: sum((r) => r.stepsRealised),
      worldSteps: sum((r) => r.worldSteps),
      stops: [...stops].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
    };
  });
}

/** A markdown table of the summaries, and the commonest places unrealised paths stopped. */
export function pathSummaryTable(rows: readonly PathSummary[], stopsShown = 4): string {
  return [
    '| mode | paths | realised | exact | violations | steps | steps realised | world steps | commonest stops |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.paths} | ${r.realised} | ${r.exact} | ${r.violations} | ${r.steps} | ` +
        `${r.stepsRealised} | ${r.worldSteps} | ${r.stops
          .slice(0, stopsShown)
          .map(([k, n]) => `${k} (${n})`)
          .join(', ')} |`,
    ),
  ].join('\n');
}

/** A violation as a test failure prints it: the path's target, mode and step, the path, the message. */
export function describeViolation(r: PathRunResult): string {
  const v = r.violation;
  if (!v) return '';
  return `${r.path.mode} ${r.path.purpose} path to ${r.path.target}, step ${v.pathStep} (${describeEvent(r.path.steps[v.pathStep]!.event)}): ${v.detail}\n${describePath(r.path, v.pathStep)}`;
}
