// The statechart compiled into a plain transition function: `can` and `next` on a snapshot, computed
// from the machine's own state nodes, transitions, guards and assign actions, without xstate's interpreter.
//
// xstate spends tens of microseconds per `can` or `transition`: it walks the state value, allocates
// arguments, action lists and sets, and clones the snapshot several times per step. Lockstep asks
// those questions several times per target step. `compileChart(machine)` reads a machine once, checks
// that it uses only what the compilation below implements (a parallel root of compound regions, no
// history, eventless, delayed, entry or exit behaviour, no final states, no invoked actors, guards
// that are named or and/or/not/stateIn, actions that are assign or run nowhere; every transition's
// target inside its own region), and answers with xstate's own selection rule for that subset:
//
// - per region, in the order of the snapshot's state value keys (as xstate's transitionParallelNode
//   visits them), from the active leaf up to the region's root, the first state node with a
//   candidate whose guard passes gives that region's transition (transitionCompoundNode/AtomicNode);
// - if no region has one, the root's own candidates (StateNode.next on the root);
// - `can` holds when some selected transition has a target or actions (machineSnapshotCan);
// - `next` moves each region with a targeted transition to its target's initial leaf and applies the
//   selected transitions' assign actions in selection order, each on the context the previous one
//   left (resolveAssign); with targets inside their regions, no two selected transitions conflict.
//
// Snapshots it builds are xstate snapshots: the canonical snapshot of their configuration
// (`machine.resolveState`, built once per configuration) with the new context. A step that changes
// neither configuration nor context returns its input: a snapshot is immutable plain data. The
// guards and assignments run are the machine's own functions. model/compiled_chart.test.ts checks
// every answer against xstate on every graph state of every mode and along random walks.

import { type AnyStateMachine, type AnyStateNode, and, not, or, type StateValue, stateIn } from 'xstate';
import type { ModelEvent } from './events.ts';
import { type ModelContext, type ModelSnapshot, relationshipMachine } from './statechart.ts';

/** A guard compiled to a predicate on the context, the event and the active configuration. */
type Guard = (context: ModelContext, event: ModelEvent, config: Configuration) => boolean;

/** An assign compiled to a context update. */
type Assignment = (context: ModelContext, event: ModelEvent) => ModelContext;

interface CompiledTransition {
  readonly guard: Guard | null;
  /** Region index whose leaf the transition moves, and the leaf it moves to; -1 when targetless. */
  readonly region: number;
  readonly targetLeaf: number;
  readonly assignments: readonly Assignment[];
  /** machineSnapshotCan: a transition that neither moves nor acts does not enable its event. */
  readonly enables: boolean;
}

/** One configuration of the chart: an active leaf per region, in the snapshot's region order. */
interface Configuration {
  /** Leaf index per region (regions in document order). */
  readonly leaves: readonly number[];
  /** Per state node index: whether it is active (for stateIn). */
  readonly active: Uint8Array;
  /** Region indices in the order of the snapshot's value keys: xstate's evaluation order. */
  readonly regionOrder: readonly number[];
  /** Per event type: per region (document order), candidates from the leaf up to the region root. */
  readonly byEvent: Map<string, readonly (readonly CompiledTransition[])[]>;
  /** Per region and leaf moved to: the configuration it gives (filled as steps are taken). */
  readonly moves: Map<number, Configuration>;
  /** The canonical snapshot of this configuration, its context to be replaced. */
  readonly shell: ModelSnapshot;
}

interface TransitionDefinition {
  readonly source: AnyStateNode;
  readonly target?: readonly AnyStateNode[];
  readonly guard?: unknown;
  readonly actions: readonly unknown[];
  readonly reenter?: boolean;
}

interface BuiltinGuard {
  readonly check: unknown;
  readonly guards?: readonly unknown[];
  readonly stateValue?: unknown;
}

interface AssignAction {
  readonly type: string;
  readonly assignment: unknown;
}

type Args = { context: ModelContext; event: ModelEvent };

/** xstate's builtin guards, told apart by their check functions (the same objects for every guard). */
const CHECK_AND = (and([]) as unknown as BuiltinGuard).check;
const CHECK_OR = (or([]) as unknown as BuiltinGuard).check;
const CHECK_NOT = (not('x') as unknown as BuiltinGuard).check;
const CHECK_STATE_IN = (stateIn('#x') as unknown as BuiltinGuard).check;

export class CompiledChart {
  private readonly root: AnyStateNode;
  private readonly nodes: AnyStateNode[] = [];
  private readonly indexOf = new Map<AnyStateNode, number>();
  private readonly regions: AnyStateNode[];
  private readonly regionOfNode = new Map<AnyStateNode, number>();
  private readonly leaves: AnyStateNode[];
  private readonly leafIndex: Map<AnyStateNode, number>;
  private readonly compiledTransitions = new Map<object, CompiledTransition>();
  private readonly rootCandidates = new Map<string, readonly CompiledTransition[]>();
  /** Configurations by their leaves (canonical), and by a snapshot's node list (any order). */
  private readonly byLeaves = new Map<string, Configuration>();
  private readonly byNodeList = new WeakMap<object, Configuration>();
  /** The selected transitions of the last call: read before the next one. */
  private readonly selected: CompiledTransition[] = [];
  /**
   * What `selected` was computed for. Lockstep asks `can` and then `next` of the same snapshot and
   * event: guards are pure functions of those, so `next` takes the selection `can` just made.
   */
  private selectedFor: { snapshot: ModelSnapshot | null; event: ModelEvent | null; any: boolean } = {
    snapshot: null,
    event: null,
    any: false,
  };
  /** Reused argument object for the machine's guard functions: they read `context` and `event` and keep nothing. */
  private readonly guardArgs: Args = {
    context: undefined as unknown as ModelContext,
    event: undefined as unknown as ModelEvent,
  };

  constructor(private readonly machine: AnyStateMachine) {
    this.root = machine.root as AnyStateNode;
    this.collect(this.root);
    this.regions = Object.values(this.root.states) as AnyStateNode[];
    this.regions.forEach((r, i) => {
      for (const n of this.nodes) if (n === r || isDescendant(n, r)) this.regionOfNode.set(n, i);
    });
    this.leaves = this.nodes.filter((n) => n.type === 'atomic');
    this.leafIndex = new Map(this.leaves.map((n, i) => [n, i]));
    this.checkSubset();
    // Compile every transition now: an unsupported guard or action is refused at load, not mid-run.
    for (const n of this.nodes)
      for (const ts of (n.transitions as Map<string, TransitionDefinition[]>).values())
        for (const t of ts) this.compiled(t);
  }

  /** Whether the statechart enables `event` in `snapshot`: what xstate's `snapshot.can(event)` answers. */
  can(snapshot: ModelSnapshot, event: ModelEvent): boolean {
    if (!this.selection(snapshot, event)) return false;
    for (const t of this.selected) if (t.enables) return true;
    return false;
  }

  /**
   * The snapshot after `event`: equal in status, state value and context to xstate's
   * `machine.transition(snapshot, event, scope)` (statechart.ts, `nextSnapshot`).
   */
  next(snapshot: ModelSnapshot, event: ModelEvent): ModelSnapshot {
    if (!this.selection(snapshot, event)) return snapshot;
    const from = this.configurationOf(snapshot);
    let config = from;
    let context = snapshot.context;
    for (const t of this.selected) {
      for (const assign of t.assignments) context = assign(context, event);
      if (t.region >= 0 && config.leaves[t.region] !== t.targetLeaf) config = this.moved(config, t);
    }
    if (config === from && context === snapshot.context) return snapshot;
    return { ...config.shell, context } as ModelSnapshot;
  }

  // Selection: xstate's rule for this machine (see the header).

  /** Fills `selected` for `snapshot` and `event`, unless it already holds their selection. */
  private selection(snapshot: ModelSnapshot, event: ModelEvent): boolean {
    const last = this.selectedFor;
    if (last.snapshot === snapshot && last.event === event) return last.any;
    const any = this.select(this.configurationOf(snapshot), snapshot.context, event);
    last.snapshot = snapshot;
    last.event = event;
    last.any = any;
    return any;
  }

  /** Fills `selected`; false when nothing is selected. */
  private select(config: Configuration, context: ModelContext, event: ModelEvent): boolean {
    const perRegion = config.byEvent.get(event.type) ?? this.candidatesFor(config, event.type);
    const selected = this.selected;
    selected.length = 0;
    for (const r of config.regionOrder) {
      const chosen = firstPassing(perRegion[r]!, context, event, config);
      if (chosen !== null) selected.push(chosen);
    }
    if (selected.length === 0) {
      const chosen = firstPassing(this.rootCandidatesFor(event.type), context, event, config);
      if (chosen !== null) selected.push(chosen);
    }
    return selected.length > 0;
  }

  private candidatesFor(config: Configuration, type: string): readonly (readonly CompiledTransition[])[] {
    // From the leaf up to the region root, each node's candidates in order: the first passing one
    // wins, and a deeper node's candidates come before its ancestors' (xstate tries the child first).
    const perRegion = config.leaves.map((leaf) => {
      const out: CompiledTransition[] = [];
      for (
        let n: AnyStateNode | undefined = this.leaves[leaf];
        n !== undefined && n !== this.root;
        n = n.parent
      )
        for (const t of (n.transitions as Map<string, TransitionDefinition[]>).get(type) ?? [])
          out.push(this.compiled(t));
      return out;
    });
    config.byEvent.set(type, perRegion);
    return perRegion;
  }

  private rootCandidatesFor(type: string): readonly CompiledTransition[] {
    let out = this.rootCandidates.get(type);
    if (out === undefined) {
      const ts = (this.root.transitions as Map<string, TransitionDefinition[]>).get(type) ?? [];
      out = ts.map((t) => this.compiled(t));
      this.rootCandidates.set(type, out);
    }
    return out;
  }

  // Configurations.

  private configurationOf(snapshot: ModelSnapshot): Configuration {
    const list = snapshot._nodes as unknown as object;
    let config = this.byNodeList.get(list);
    if (config === undefined) {
      if (snapshot.status !== 'active') throw new Error(`compiled chart: snapshot status ${snapshot.status}`);
      const found = this.regions.map(() => -1);
      for (const n of snapshot._nodes as readonly AnyStateNode[]) {
        const leaf = this.leafIndex.get(n);
        if (leaf !== undefined) found[this.regionOfNode.get(n)!] = leaf;
      }
      if (found.includes(-1)) throw new Error('compiled chart: a region has no active leaf');
      const canonical = this.configurationFor(found);
      const order = this.orderOf(snapshot);
      // A snapshot xstate built may list its regions in another order: it is evaluated in its own.
      config = sameOrder(order, canonical.regionOrder) ? canonical : { ...canonical, regionOrder: order };
      this.byNodeList.set(list, config);
    }
    return config;
  }

  private moved(config: Configuration, t: CompiledTransition): Configuration {
    const key = t.region * this.leaves.length + t.targetLeaf;
    let next = config.moves.get(key);
    if (next === undefined) {
      const leaves = [...config.leaves];
      leaves[t.region] = t.targetLeaf;
      next = this.configurationFor(leaves);
      config.moves.set(key, next);
    }
    return next;
  }

  private configurationFor(leafOfRegion: readonly number[]): Configuration {
    const key = leafOfRegion.join(',');
    let config = this.byLeaves.get(key);
    if (config === undefined) {
      const value = Object.fromEntries(
        this.regions.map((r, i) => [r.key, pathValue(r, this.leaves[leafOfRegion[i]!]!)]),
      );
      const shell = this.machine.resolveState({ value: value as StateValue, context: {} }) as ModelSnapshot;
      const active = new Uint8Array(this.nodes.length);
      for (const n of shell._nodes as readonly AnyStateNode[]) active[this.indexOf.get(n)!] = 1;
      const regionOrder = this.orderOf(shell);
      config = {
        leaves: [...leafOfRegion],
        active,
        regionOrder,
        byEvent: new Map(),
        moves: new Map(),
        shell,
      };
      this.byLeaves.set(key, config);
      this.byNodeList.set(shell._nodes as unknown as object, config);
    }
    return config;
  }

  private orderOf(snapshot: ModelSnapshot): number[] {
    return Object.keys(snapshot.value as object).map((k) => this.regions.findIndex((r) => r.key === k));
  }

  // Compilation of transitions, guards and actions.

  private compiled(t: TransitionDefinition): CompiledTransition {
    let out = this.compiledTransitions.get(t);
    if (out === undefined) {
      const target = t.target?.[0];
      out = {
        guard: t.guard === undefined ? null : this.compileGuard(t.guard),
        region: target === undefined ? -1 : this.regionOfNode.get(target)!,
        targetLeaf: target === undefined ? -1 : this.leafIndex.get(initialLeaf(target))!,
        assignments: t.actions.flatMap((a) => this.compileAction(a)),
        // As machineSnapshotCan reads the definition: a target, or any action at all.
        enables: t.target !== undefined || t.actions.length > 0,
      };
      this.compiledTransitions.set(t, out);
    }
    return out;
  }

  private compileGuard(guard: unknown): Guard {
    // As evaluateGuard resolves it: a string names an implementation, which may be a builtin guard.
    const resolved =
      typeof guard === 'string'
        ? (this.machine.implementations.guards as Record<string, unknown>)[guard]
        : guard;
    if (typeof resolved !== 'function')
      throw new Error(`compiled chart: guard ${String(guard)} is not a function`);
    if (!('check' in resolved)) {
      const fn = resolved as (args: Args) => boolean;
      const args = this.guardArgs;
      return (context, event) => {
        args.context = context;
        args.event = event;
        return fn(args);
      };
    }
    if ('params' in resolved) throw new Error('compiled chart: guards with params are not compiled');
    const builtin = resolved as unknown as BuiltinGuard;
    if (builtin.check === CHECK_STATE_IN) {
      const id = builtin.stateValue;
      if (typeof id !== 'string' || !id.startsWith('#'))
        throw new Error(`compiled chart: stateIn(${String(id)}) must name a state by id`);
      const at = this.indexOf.get(this.machine.getStateNodeById(id) as AnyStateNode)!;
      return (_c, _e, config) => config.active[at] === 1;
    }
    const parts = (builtin.guards ?? []).map((g) => this.compileGuard(g));
    if (builtin.check === CHECK_NOT) {
      const [inner] = parts;
      if (parts.length !== 1 || inner === undefined) throw new Error('compiled chart: not() takes one guard');
      return (c, e, config) => !inner(c, e, config);
    }
    // Loops, not every/some: no closure per evaluation. Short-circuit in order, as checkAnd/checkOr.
    if (builtin.check === CHECK_AND)
      return (c, e, config) => {
        for (const g of parts) if (!g(c, e, config)) return false;
        return true;
      };
    if (builtin.check === CHECK_OR)
      return (c, e, config) => {
        for (const g of parts) if (g(c, e, config)) return true;
        return false;
      };
    throw new Error('compiled chart: unsupported builtin guard');
  }

  /** An assign becomes a context update; an action that is not builtin runs nowhere (INERT_SCOPE). */
  private compileAction(action: unknown): Assignment[] {
    const resolved =
      typeof action === 'string'
        ? (this.machine.implementations.actions as Record<string, unknown>)[action]
        : action;
    if (typeof resolved !== 'function')
      throw new Error(`compiled chart: action ${String(action)} is not a function`);
    if (!('resolve' in resolved)) return [];
    const builtin = resolved as unknown as AssignAction;
    if (builtin.type !== 'xstate.assign')
      throw new Error(`compiled chart: unsupported builtin action ${builtin.type}`);
    if ('params' in resolved) throw new Error('compiled chart: actions with params are not compiled');
    const assignment = builtin.assignment;
    // As resolveAssign: a function gives the partial update; an object gives one per key, each a
    // value or a function of the arguments; the update is merged over a copy of the context.
    if (typeof assignment === 'function') {
      const fn = assignment as (args: Args) => Partial<ModelContext>;
      return [(context, event) => Object.assign({}, context, fn({ context, event }))];
    }
    const entries = Object.entries(assignment as Record<string, unknown>);
    return [
      (context, event) => {
        const update: Record<string, unknown> = {};
        for (const [key, value] of entries)
          update[key] =
            typeof value === 'function' ? (value as (args: Args) => unknown)({ context, event }) : value;
        return Object.assign({}, context, update) as ModelContext;
      },
    ];
  }

  // The subset of statecharts this compilation implements: anything else is refused at load.

  private collect(n: AnyStateNode): void {
    this.indexOf.set(n, this.nodes.length);
    this.nodes.push(n);
    for (const child of Object.values(n.states) as AnyStateNode[]) this.collect(child);
  }

  private checkSubset(): void {
    const refuse = (why: string): never => {
      throw new Error(`compiled chart: the machine ${why}; compiled_chart.ts does not implement it`);
    };
    if (this.root.type !== 'parallel') refuse('root is not parallel');
    if (Object.keys(this.machine.implementations.actors ?? {}).length > 0) refuse('has actors');
    for (const r of this.regions) if (r.type !== 'compound') refuse(`region ${r.key} is not compound`);
    for (const n of this.nodes) {
      if (n.type === 'history' || n.type === 'final' || (n.type === 'parallel' && n !== this.root))
        refuse(`has a ${n.type} state (${n.id})`);
      // Delayed transitions first: xstate implements them with entry and exit actions of their own.
      if (n.after.length > 0) refuse(`has delayed transitions (${n.id})`);
      if (n.entry.length > 0 || n.exit.length > 0) refuse(`has entry or exit actions (${n.id})`);
      if ((n.always?.length ?? 0) > 0) refuse(`has eventless transitions (${n.id})`);
      if (n.invoke.length > 0) refuse(`invokes actors (${n.id})`);
      for (const [type, ts] of n.transitions as Map<string, TransitionDefinition[]>) {
        if (type.includes('*')) refuse(`has a wildcard event descriptor (${n.id}: ${type})`);
        for (const t of ts) {
          if (t.target === undefined) continue;
          if (n === this.root) refuse(`has a root transition with a target (${type})`);
          if (t.target.length !== 1) refuse(`has a transition with several targets (${n.id}: ${type})`);
          const region = this.regions[this.regionOfNode.get(n)!]!;
          if (!isDescendant(t.target[0]!, region))
            refuse(`has a transition leaving its region (${n.id}: ${type})`);
          if (t.reenter === true) refuse(`has a reentering transition (${n.id}: ${type})`);
        }
      }
    }
  }
}

/** The relationship statechart, compiled: what lockstep steps (model/lockstep.ts). */
export const relationshipChart = new CompiledChart(relationshipMachine);

function firstPassing(
  candidates: readonly CompiledTransition[],
  context: ModelContext,
  event: ModelEvent,
  config: Configuration,
): CompiledTransition | null {
  for (const t of candidates) if (t.guard === null || t.guard(context, event, config)) return t;
  return null;
}

function initialLeaf(node: AnyStateNode): AnyStateNode {
  let n = node;
  while (n.type === 'compound') n = n.initial.target[0] as AnyStateNode;
  return n;
}

/** The state value of `region` with `leaf` active: 'leaf' or { child: ... } down from the region. */
function pathValue(region: AnyStateNode, leaf: AnyStateNode): unknown {
  let value: unknown = leaf.key;
  for (let n = leaf.parent; n !== undefined && n !== region; n = n.parent) value = { [n.key]: value };
  return value;
}

function sameOrder(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function isDescendant(n: AnyStateNode, ancestor: AnyStateNode): boolean {
  for (let p = n.parent; p !== undefined; p = p.parent) if (p === ancestor) return true;
  return false;
}
