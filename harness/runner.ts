// Runs one schedule against one conformance target: a safety phase (the schedule's actions, faults
// on, each action only when the model and the fault atlas enable it, every `always` property checked
// after every step), then a liveness phase (every fault healed, time passes: does it converge?).
// Deterministic: the same schedule gives the same executed actions, trace and verdict.

import { ALWAYS, EVENTUALLY, type Property, SOMETIMES } from '../properties/properties.ts';
import {
  actionClasses,
  configClasses,
  type FaultClass,
  logFileWrapped,
  stepClasses,
} from './fault_coverage.ts';
import { History } from './history.ts';
import { groupsOf, type Schedule, specOf, toleranceOf } from './schedule.ts';
import { PERFECT_LINK } from './sim_network.ts';
import { type ConformanceTarget, DESTINATION, type NodeId } from './target.ts';
import { TargetError, World, type WorldAction } from './world.ts';

/** A checker stepped in lockstep with the world: the model is one. */
export interface LockstepChecker {
  readonly name: string;
  /** May this action happen now? (The model's `can` for the matching environment event.) */
  enabled(action: WorldAction, h: History): boolean;
  /** After the world ran `action`: a violation (a message under the checker's name, or a named one), or null. */
  afterStep(h: History): string | { readonly property: string; readonly message: string } | null;
}

export interface RunOptions {
  readonly trace?: boolean;
  /** Ticks the liveness phase may take to converge. */
  readonly livenessTicks?: number;
  readonly checkers?: readonly LockstepChecker[];
  /** Properties to check (all by default). */
  readonly properties?: readonly Property[];
}

export interface Violation {
  readonly property: string;
  readonly message: string;
  /** 1-based index of the executed step it followed; 0 for boot. */
  readonly step: number;
  readonly phase: 'safety' | 'liveness';
}

export interface RunResult {
  readonly ok: boolean;
  readonly violation?: Violation;
  /** The actions that ran (enabled ones), liveness phase included: the schedule a replay runs. */
  readonly executed: WorldAction[];
  readonly safetySteps: number;
  /** Actions run (a `tick N` is one). */
  readonly steps: number;
  /** Lockstep steps: every action and every tick, each observed and checked (a `tick N` is N). */
  readonly observedSteps: number;
  readonly ticks: number;
  readonly sometimes: ReadonlySet<string>;
  /** The fault classes and situations the safety phase exercised (harness/fault_coverage.ts). */
  readonly coverage: ReadonlySet<FaultClass>;
  readonly trace: readonly string[];
}

const DEFAULT_LIVENESS_TICKS = 400;
const ONE_TICK: WorldAction = { kind: 'tick', ticks: 1 };

export function runSchedule(
  target: ConformanceTarget,
  schedule: Schedule,
  options: RunOptions = {},
): RunResult {
  const spec = specOf(schedule.config);
  let world: World;
  let run: Run;
  try {
    world = new World({
      spec,
      target,
      seed: schedule.seed,
      trace: options.trace ?? false,
      ...(schedule.config.linkFaults ? { linkFaults: schedule.config.linkFaults } : {}),
    });
    run = new Run(world, options);
    for (const c of configClasses(schedule.config)) run.coverage.add(c);
  } catch (e) {
    // Booting, or the first observation after it, broke the interface: nothing ran.
    const violation = exceptionViolation(e, 0, 'safety');
    const none = { executed: [], safetySteps: 0, steps: 0, observedSteps: 0, ticks: 0 };
    // A process node's stderr (harness/process_target.ts) is all the trace there is of a failed boot.
    const tail = (e as { stderrTail?: unknown } | null)?.stderrTail;
    const trace = Array.isArray(tail)
      ? [violation.message, ...tail.map((l) => `  stderr| ${String(l)}`)]
      : [];
    return { ok: false, violation, ...none, sometimes: new Set(), coverage: new Set(), trace };
  }
  let violation: Violation | null;
  try {
    violation = run.safety(schedule.actions) ?? run.liveness(options.livenessTicks ?? DEFAULT_LIVENESS_TICKS);
  } catch (e) {
    // What a step's own guard did not catch (a property or goal reading the target): still a verdict.
    violation = exceptionViolation(
      e,
      run.executed.length,
      run.safetySteps < run.executed.length ? 'liveness' : 'safety',
    );
  }
  return {
    ok: violation === null,
    ...(violation ? { violation } : {}),
    executed: run.executed,
    safetySteps: run.safetySteps,
    steps: run.executed.length,
    observedSteps: run.observedSteps,
    ticks: world.now,
    sometimes: run.sometimes,
    coverage: run.coverage,
    trace: world.trace,
  };
}

/** An exception as a run's verdict: the target's when it broke the interface, else the harness's. */
function exceptionViolation(e: unknown, step: number, phase: Violation['phase']): Violation {
  if (e instanceof TargetError) return { property: 'target-contract', message: e.message, step, phase };
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { property: 'harness-error', message, step, phase };
}

/**
 * Fault atlas: faults stay within what the system claims to survive. Disk faults are counted off the
 * disks (World.diskFaults): a latent error stops counting once its block verifies again, a replaced
 * disk once its rebuild finished. One fault goes past it on purpose (rule D4): a `fail-disk` marked
 * `beyond` takes a running source's primary group, whose outstanding faults are all failed disks at
 * its tolerance, one disk past it. That source is then lost: it takes no other disk fault, repair or
 * scrub and never restarts; it may lose power, and the operator fails it over. The same on a running
 * destination's mirror group (rule D5): that mirror is then lost, never failed over; the destination
 * takes no power cut (its groups are degraded for good), no repair of that source's groups and no
 * scrub, and the source carries on unmirrored. A source and its mirror are never both lost. Power
 * cuts on a node with faults outstanding come only between two calls (rule D6): a cut inside one (an
 * armed cut, a cut rebuild) there, or a disk fault while a cut is armed, is the RAID write hole.
 */
class Atlas {
  private readonly failedOver = new Set<NodeId>();
  private readonly tolerance = new Map<string, number>();
  /** Per node, the most faults it may have outstanding at once: its widest group's tolerance. */
  private readonly nodeTolerance = new Map<NodeId, number>();

  constructor(private readonly world: World) {
    for (const g of groupsOf(world.spec)) {
      const tolerance = toleranceOf(world.spec, g);
      this.tolerance.set(`${g.node}/${g.group}`, tolerance);
      this.nodeTolerance.set(g.node, Math.max(this.nodeTolerance.get(g.node) ?? 0, tolerance));
    }
  }

  enabled(a: WorldAction, h: History): boolean {
    const w = this.world;
    switch (a.kind) {
      case 'write':
      case 'burst':
      case 'read':
      case 'out-of-range': {
        // A paused server takes no requests: its clients wait, outside the schedule.
        const server = this.failedOver.has(a.source) ? 'dst' : a.source;
        return w.isUp(server) && !w.isPaused(server);
      }
      case 'tick':
        return true;
      case 'partition':
        return !w.network.isPartitioned(a.source, 'dst');
      case 'heal':
        return w.network.isPartitioned(a.source, 'dst');
      case 'crash':
        // A cut inside a write (an armed cut) while a group is degraded is the RAID write hole: beyond
        // what RAID claims. A cut now falls between two calls, every stripe as its last call left it,
        // so a degraded node takes it (rule D6), but for a destination whose mirror is lost (D5). A lost
        // volume has nothing left to tear.
        return (
          w.isUp(a.node) &&
          !this.failedOver.has(a.node) &&
          (this.faults(a.node) === 0 ||
            w.lostVolumes.has(a.node) ||
            (a.afterWrites === undefined &&
              !w.media[a.node]!.power.isArmed &&
              !(a.node === DESTINATION && w.lostMirrors.size > 0)))
        );
      case 'restart':
        return !w.isUp(a.node) && !this.failedOver.has(a.node) && !w.lostVolumes.has(a.node);
      // A lost mirror (D5) is never promoted: the operator has nothing to fail over to.
      case 'fail-disk':
      case 'latent-error': {
        if (a.kind === 'fail-disk' && a.beyond === true) return this.canLoseVolume(a.node, a.group, a.index);
        // A disk fault while a power cut is armed would meet a torn stripe: the RAID write hole again.
        const disk = this.disk(a.node, a.group, a.index);
        return (
          w.isUp(a.node) &&
          !w.lostVolumes.has(a.node) &&
          !w.media[a.node]!.power.isArmed &&
          this.groupFaults(a.node, a.group) < this.tolerance.get(`${a.node}/${a.group}`)! &&
          !disk.isFailed &&
          this.faults(a.node) < this.nodeTolerance.get(a.node)! &&
          // One latent error a block: a second flip of the same byte would undo the first.
          (a.kind === 'fail-disk' || disk.verifies(a.dbn))
        );
      }
      case 'replace-disk':
        return (
          w.isUp(a.node) &&
          !w.lostVolumes.has(a.node) &&
          !this.ofLostMirror(a.node, a.group) &&
          !w.isPaused(a.node) &&
          this.disk(a.node, a.group, a.index).isFailed &&
          // A cut inside the rebuild (rule D2) on a node whose only fault is the disk being replaced:
          // elsewhere it would be a cut on a degraded group, the write hole.
          (a.cutAfterWrites === undefined || (this.faults(a.node) === 1 && !w.media[a.node]!.power.isArmed))
        );
      case 'scrub':
        return (
          w.isUp(a.node) &&
          !w.isPaused(a.node) &&
          !w.lostVolumes.has(a.node) &&
          !(a.node === DESTINATION && w.lostMirrors.size > 0) &&
          typeof w.instance.scrub === 'function'
        );
      case 'message-fault':
        return w.nodes.includes(a.from) && w.nodes.includes(a.to) && a.from !== a.to;
      case 'slow':
        return !w.network.isSlow(a.source, 'dst') && a.ticks > w.spec.ackTimeoutTicks;
      case 'speed-up':
        return w.network.isSlow(a.source, 'dst');
      case 'pause':
        return w.isUp(a.node) && !w.isPaused(a.node) && !this.failedOver.has(a.node);
      case 'drift':
        return w.isUp(a.node) && (a.skipEvery === 0) === w.isDrifting(a.node);
      case 'failover':
        return (
          !w.isUp(a.source) &&
          w.isUp('dst') &&
          !w.isPaused('dst') &&
          !this.failedOver.has(a.source) &&
          !w.lostMirrors.has(a.source) &&
          h.after.sources[a.source]!.relationship !== 'failed-over'
        );
    }
  }

  record(a: WorldAction): void {
    // The source is lost for good once the operator asks, whether or not the promotion finished.
    if (a.kind === 'failover') this.failedOver.add(a.source);
  }

  isFailedOver(source: NodeId): boolean {
    return this.failedOver.has(source);
  }

  /**
   * D4: a running source's primary group, all of whose outstanding faults are failed disks at its
   * tolerance (no latent error, no unfinished rebuild), loses one disk more.
   */
  private canLoseVolume(node: NodeId, group: string, index: number): boolean {
    const w = this.world;
    // The relationship whose volume (D4) or mirror (D5) it would be; a log group is never lost.
    const source = node === DESTINATION ? group.slice('mirror:'.length) : node;
    if (node === DESTINATION ? !group.startsWith('mirror:') : group !== 'primary') return false;
    if (this.failedOver.has(source) || w.lostVolumes.has(source) || w.lostMirrors.has(source)) return false;
    if (
      !w.isUp(node) ||
      w.isPaused(node) ||
      w.media[node]!.power.isArmed ||
      this.disk(node, group, index).isFailed
    )
      return false;
    const failed = w.media[node]!.groups[group]!.filter((d) => d.isFailed).length;
    const tolerance = this.tolerance.get(`${node}/${group}`)!;
    return failed === tolerance && this.groupFaults(node, group) === failed;
  }

  /** A group of a source whose mirror is lost (D5): its mirror and its log file are left as they are. */
  private ofLostMirror(node: NodeId, group: string): boolean {
    return node === DESTINATION && this.world.lostMirrors.has(group.slice(group.indexOf(':') + 1));
  }

  private disk(node: NodeId, group: string, index: number) {
    return this.world.media[node]!.groups[group]![index]!;
  }

  private groupFaults(node: NodeId, group: string): number {
    return this.world.diskFaults.inGroup(node, group);
  }

  private faults(node: NodeId): number {
    return this.world.diskFaults.onNode(node);
  }
}

/** Exported for drivers that pick each next action from what the run showed (harness/model_paths.ts). */
export class Run {
  readonly executed: WorldAction[] = [];
  readonly sometimes = new Set<string>();
  readonly coverage = new Set<FaultClass>();
  safetySteps = 0;
  observedSteps = 0;
  private readonly history: History;
  private readonly atlas: Atlas;
  private readonly always: readonly Property[];
  private readonly eventually: readonly Property[];
  private readonly sometimesProps: readonly Property[];
  private readonly checkers: readonly LockstepChecker[];

  constructor(
    private readonly world: World,
    options: RunOptions,
  ) {
    this.history = new History(world);
    this.atlas = new Atlas(world);
    const props = options.properties ?? [...ALWAYS, ...EVENTUALLY, ...SOMETIMES];
    this.always = props.filter((p) => p.kind === 'always');
    this.eventually = props.filter((p) => p.kind === 'eventually');
    this.sometimesProps = props.filter((p) => p.kind === 'sometimes');
    this.checkers = options.checkers ?? [];
  }

  safety(actions: readonly WorldAction[]): Violation | null {
    for (const action of actions) {
      if (!this.enabled(action)) continue;
      const v = this.step(action, 'safety');
      this.safetySteps++;
      if (v) return v;
    }
    return null;
  }

  /** Heal every fault, then let time pass until the `eventually` properties hold or time runs out. */
  liveness(ticks: number): Violation | null {
    const w = this.world;
    for (const link of w.spec.sources)
      for (const heal of [
        w.network.isPartitioned(link.id, 'dst') && { kind: 'heal' as const, source: link.id },
        w.network.isSlow(link.id, 'dst') && { kind: 'speed-up' as const, source: link.id },
      ]) {
        if (!heal) continue;
        const v = this.step(heal, 'liveness');
        if (v) return v;
      }
    for (const s of w.spec.sources) w.network.configureLink(s.id, 'dst', PERFECT_LINK);
    w.network.clearAimed();
    w.resumeAll();
    for (const node of w.nodes) w.media[node]!.power.disarm();
    for (const node of w.nodes) {
      if (w.isUp(node) || this.atlas.isFailedOver(node) || w.lostVolumes.has(node)) continue;
      const v = this.step({ kind: 'restart', node }, 'liveness');
      if (v) return v;
    }
    // A lost volume (D4) comes back only as the promoted mirror: the operator powers the source off,
    // and fails it over once the destination shows it out of sync (below, as time passes).
    for (const s of w.spec.sources) {
      if (!w.lostVolumes.has(s.id) || !w.isUp(s.id) || this.atlas.isFailedOver(s.id)) continue;
      const v = this.step({ kind: 'crash', node: s.id }, 'liveness');
      if (v) return v;
    }
    let v = this.failOverLostVolumes();
    if (v) return v;
    for (const node of w.nodes) {
      if (!w.isUp(node) || w.lostVolumes.has(node)) continue;
      for (const [group, disks] of Object.entries(w.media[node]!.groups))
        for (let index = 0; index < disks.length; index++)
          if (
            disks[index]!.isFailed &&
            this.atlas.enabled({ kind: 'replace-disk', node, group, index }, this.history)
          ) {
            const v = this.step({ kind: 'replace-disk', node, group, index }, 'liveness');
            if (v) return v;
          }
    }
    // An operator retries a failover that a destination crash cut short.
    for (const s of w.spec.sources) {
      if (!this.atlas.isFailedOver(s.id) || this.history.after.sources[s.id]!.relationship === 'failed-over')
        continue;
      const v = this.step({ kind: 'failover', source: s.id }, 'liveness');
      if (v) return v;
    }
    let last: string | null = this.checkEventually();
    if (last === null) return null;
    // Writes still queued drain one NVLOG half per CP (rule A4's queued deadline): a burst of hundreds
    // needs more than the fixed budget to be answered, and is given it.
    let budget = ticks;
    for (const s of w.spec.sources) {
      const queued = w.writes.filter((x) => !x.outcome && x.source === s.id).length;
      budget += Math.ceil(queued / s.nvlogHalfEntries) * (w.spec.ackTimeoutTicks + 2);
    }
    // One tick at a time: a CP timer would otherwise always be sampled at the same phase.
    for (let t = 0; t < budget; t++) {
      v = this.step({ kind: 'tick', ticks: 1 }, 'liveness') ?? this.failOverLostVolumes();
      if (v) return v;
      last = this.checkEventually();
      if (last === null) return null;
    }
    return {
      property: this.failingEventually() ?? 'converges-after-heal',
      message: `${last} after ${budget} ticks`,
      step: this.executed.length,
      phase: 'liveness',
    };
  }

  /** The operator fails over each lost volume's source (rule D4) as soon as failover is enabled. */
  private failOverLostVolumes(): Violation | null {
    for (const s of this.world.spec.sources) {
      const action: WorldAction = { kind: 'failover', source: s.id };
      if (!this.world.lostVolumes.has(s.id) || this.atlas.isFailedOver(s.id) || !this.enabled(action))
        continue;
      const v = this.step(action, 'liveness');
      if (v) return v;
    }
    return null;
  }

  private enabled(action: WorldAction): boolean {
    if (!this.atlas.enabled(action, this.history)) return false;
    return this.checkers.every((c) => c.enabled(action, this.history));
  }

  /** Runs one action; `tick N` runs as N observed ticks, so no CP or state change goes unseen. */
  private step(action: WorldAction, phase: 'safety' | 'liveness'): Violation | null {
    if (phase === 'safety')
      for (const c of actionClasses(action, this.world, this.history)) this.coverage.add(c);
    this.executed.push(action);
    this.atlas.record(action);
    const parts: WorldAction[] =
      action.kind === 'tick' ? Array.from({ length: action.ticks }, () => ONE_TICK) : [action];
    for (const part of parts) {
      const v = this.observedStep(part, phase);
      if (v) return v;
    }
    return null;
  }

  private observedStep(action: WorldAction, phase: 'safety' | 'liveness'): Violation | null {
    const h = this.history;
    const at = this.executed.length;
    this.observedSteps++;
    try {
      this.world.step(action);
      h.update(action);
      if (phase === 'safety') for (const c of stepClasses(h)) this.coverage.add(c);
      // Every property is still checked while the liveness phase drains stalled writes: a log file
      // that wraps then is checked across the wrap too.
      else if (logFileWrapped(h)) this.coverage.add('log-file-wrapped');
    } catch (e) {
      // A target breaking the interface, or a schedule the world cannot run: either way a finding to
      // report, shrink and save, never an exception that ends the campaign without a counterexample.
      if (e instanceof TargetError)
        return { property: 'target-contract', message: e.message, step: at, phase };
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      return { property: 'harness-error', message, step: at, phase };
    }
    // Checkers first: the model's milestones of this step are there for the `sometimes` properties.
    for (const c of this.checkers) {
      let m: ReturnType<LockstepChecker['afterStep']>;
      try {
        m = c.afterStep(h);
      } catch (e) {
        // The world's own guard names a target that broke the interface (threw, or returned a malformed value).
        if (e instanceof TargetError)
          return { property: 'target-contract', message: e.message, step: at, phase };
        // A checker reads the target (images, log files, reads): a throw there is most likely the
        // target's, but the message says both, since the checker's own code runs there too.
        m = `the check threw while reading the target: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (typeof m === 'string') return { property: c.name, message: m, step: at, phase };
      if (m !== null) return { ...m, step: at, phase };
    }
    for (const p of this.sometimesProps)
      if (!this.sometimes.has(p.name) && p.check(h) === true) this.sometimes.add(p.name);
    for (const p of this.always) {
      let m: string | null | boolean;
      try {
        m = p.check(h);
      } catch (e) {
        if (e instanceof TargetError)
          return { property: 'target-contract', message: e.message, step: at, phase };
        m = `the target threw while observed: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (typeof m === 'string') return { property: p.name, message: m, step: at, phase };
    }
    return null;
  }

  private checkEventually(): string | null {
    for (const p of this.eventually) {
      const m = p.check(this.history);
      if (typeof m === 'string') return m;
    }
    return null;
  }

  private failingEventually(): string | undefined {
    return this.eventually.find((p) => typeof p.check(this.history) === 'string')?.name;
  }
}
