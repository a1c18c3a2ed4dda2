// A replayed counterexample recorded for a person to look at: per action, what the target showed after
// it, the model's state in lockstep, the ticks it spanned and the world's events (messages, answers,
// power cuts) as data. cli/html_report.ts draws it.
//
// The recording is a replay with one more lockstep checker, a watcher that never objects and never
// disables an action: the run, its trace and its verdict are those of `cpsync replay`.

import { controlStateOf } from '../model/control_cache.ts';
import { describeModelState } from '../model/lockstep.ts';
import type { ControlState } from '../model/statechart.ts';
import { type Counterexample, replayCounterexample } from './campaign.ts';
import type { History } from './history.ts';
import { ModelChecker } from './model_checker.ts';
import type { LockstepChecker, RunResult } from './runner.ts';
import { specOf } from './schedule.ts';
import type { ConformanceTarget, NodeId, Observation, WorldSpec } from './target.ts';
import type { ReadRecord, WorldAction, WorldEvent, WriteRecord } from './world.ts';

/** The lockstep model of one relationship, as the report shows it. */
export interface ModelView {
  readonly control: ControlState;
  readonly primaryCp: number;
  readonly mirrorCp: number;
  /** Pending write ids, `(mirrored)` after those the destination logged. */
  readonly pending: readonly string[];
  /** describeModelState's line, as a refinement violation prints it. */
  readonly text: string;
}

export interface StepRecord {
  /** 1-based, as in a counterexample's `readable` lines and `violationStep`. */
  readonly step: number;
  readonly action: WorldAction;
  readonly phase: 'safety' | 'liveness';
  /** The world's tick when the action began and when it ended (a `tick N` spans N). */
  readonly fromTick: number;
  readonly toTick: number;
  /** The action's events are `events.slice(eventsFrom, eventsTo)`. */
  readonly eventsFrom: number;
  readonly eventsTo: number;
  /** What the target showed after the action; for the violating one, when the violation was found. */
  readonly observation: Observation;
  /**
   * The model of each relationship after the action; for the violating one, the state in which the
   * model refused (its environment events applied, not what the target showed). Null without the model.
   */
  readonly models: Readonly<Record<NodeId, ModelView>> | null;
}

export interface RunRecord {
  readonly spec: WorldSpec;
  /** Each source, then the destination. */
  readonly nodes: readonly NodeId[];
  readonly result: RunResult;
  /** What the target showed after boot. */
  readonly initial: Observation;
  readonly steps: readonly StepRecord[];
  /** Every observed step (a `tick N` action is N of them), in order: CPs start and end inside actions. */
  readonly observed: readonly ObservedStep[];
  readonly events: readonly WorldEvent[];
  readonly writes: readonly WriteRecord[];
  readonly reads: readonly ReadRecord[];
}

export interface ObservedStep {
  /** The action it is part of (1-based). */
  readonly step: number;
  /** The world's tick after it. */
  readonly tick: number;
  /** How many world events there were after it: its own start where the previous one's end. */
  readonly events: number;
  readonly observation: Observation;
}

/** One observed step as the watcher saw it, before it is known which action it belongs to. */
interface Observed {
  readonly tick: number;
  readonly events: number;
  readonly observation: Observation;
  models: Record<NodeId, ModelView> | null;
}

/**
 * Runs first among the checkers, so it sees every observed step, the violating one included. The
 * model's state after a step is read at the next one (the model checker steps after the watcher).
 */
class Watcher implements LockstepChecker {
  readonly name = 'run-record';
  history: History | null = null;
  initial: Observation | null = null;
  readonly observed: Observed[] = [];

  constructor(private readonly model: ModelChecker | undefined) {}

  enabled(_action: WorldAction, h: History): boolean {
    this.see(h);
    return true;
  }

  afterStep(h: History): null {
    this.see(h);
    this.settleModels();
    this.observed.push({
      tick: h.world.now,
      events: h.world.events.length,
      observation: h.after,
      models: null,
    });
    return null;
  }

  /** The last observed step gets the model as it is now. */
  settleModels(): void {
    const last = this.observed[this.observed.length - 1];
    if (last && last.models === null) last.models = this.modelViews();
  }

  private see(h: History): void {
    this.history ??= h;
    this.initial ??= h.stepIndex === 0 ? h.after : h.before;
  }

  private modelViews(): Record<NodeId, ModelView> | null {
    if (!this.model || !this.history) return null;
    const views: Record<NodeId, ModelView> = {};
    for (const s of this.history.world.spec.sources) {
      const m = this.model.modelOf(s.id);
      if (!m) return null;
      const c = m.snapshot.context;
      views[s.id] = {
        control: controlStateOf(m.snapshot),
        primaryCp: c.primaryCp,
        mirrorCp: c.mirrorCp,
        pending: c.pending.map((w) => `${w.writeId}${w.mirrored ? ' (mirrored)' : ''}`),
        text: describeModelState(m.snapshot),
      };
    }
    return views;
  }
}

/** Replays `cx` (as `cpsync replay` does, with `checkers`) and records it. */
export function recordCounterexample(
  target: ConformanceTarget,
  cx: Pick<Counterexample, 'schedule'>,
  checkers: readonly LockstepChecker[] = [],
): RunRecord {
  const watcher = new Watcher(checkers.find((c) => c instanceof ModelChecker));
  const result = replayCounterexample(target, cx, [watcher, ...checkers]);
  watcher.settleModels();
  const world = watcher.history?.world;
  const spec = world?.spec ?? specOf(cx.schedule.config);
  const nodes = world?.nodes ?? [...spec.sources.map((s) => s.id), 'dst'];
  const initial = watcher.initial ?? { destinationUp: true, sources: {} };
  if (!world)
    return { spec, nodes, result, initial, steps: [], observed: [], events: [], writes: [], reads: [] };
  const observed = [...watcher.observed];
  // A step that threw (a target breaking the interface) was never observed: it ends where the world got.
  const last = observed[observed.length - 1];
  if (result.observedSteps > observed.length)
    observed.push({
      tick: world.now,
      events: world.events.length,
      observation: last?.observation ?? initial,
      models: last?.models ?? null,
    });
  const { steps, stepOf } = groupByAction(result, observed);
  return {
    spec,
    nodes,
    result,
    initial,
    steps,
    observed: observed.map((o, i) => ({
      step: stepOf[i]!,
      tick: o.tick,
      events: o.events,
      observation: o.observation,
    })),
    events: world.events,
    writes: world.writes,
    reads: world.reads,
  };
}

/** Observed steps to executed actions: a `tick N` took N observed steps (fewer if the run ended in it). */
function groupByAction(
  result: RunResult,
  observed: readonly Observed[],
): { steps: StepRecord[]; stepOf: number[] } {
  const steps: StepRecord[] = [];
  const stepOf: number[] = [];
  let at = 0;
  let tick = 0;
  let events = 0;
  for (const [i, action] of result.executed.entries()) {
    if (at >= observed.length) break;
    const parts = action.kind === 'tick' ? action.ticks : 1;
    const end = observed[Math.min(at + parts, observed.length) - 1]!;
    for (let k = at; k < Math.min(at + parts, observed.length); k++) stepOf[k] = i + 1;
    at += parts;
    steps.push({
      step: i + 1,
      action,
      phase: i < result.safetySteps ? 'safety' : 'liveness',
      fromTick: tick,
      toTick: end.tick,
      eventsFrom: events,
      eventsTo: end.events,
      observation: end.observation,
      models: end.models,
    });
    tick = end.tick;
    events = end.events;
  }
  return { steps, stepOf };
}
