// What a campaign covered, for its report (`cpsync check --html`): the statechart states and transitions
// the model in lockstep went through, the actions run by kind (faults included), and what the network
// did to messages. Collected by watching, never by objecting: with it or without it a campaign runs
// the same schedules to the same verdict. Costs a replay of each model step through xstate, so it is
// collected only when a report is asked for.

import { stateIdOf, transitionIdOf } from '../model/inventory.ts';
import { type ModelSnapshot, nextSnapshot, relationshipMachine } from '../model/statechart.ts';
import type { History } from './history.ts';
import type { ModelEventsObserver } from './model_checker.ts';
import type { LockstepChecker } from './runner.ts';
import type { NetworkStats } from './sim_network.ts';
import type { WorldAction } from './world.ts';

/** Plain data: it crosses from the campaign's worker thread to the command line. */
export interface CampaignCoverage {
  /** Statechart state ids (inventory.ts) active after some event of some relationship. */
  readonly states: readonly string[];
  /** Statechart transition ids (inventory.ts) taken. */
  readonly transitions: readonly string[];
  /** Actions run, by kind; a `tick N` counts N ticks; a crash armed for a later media write is `crash-mid-work`. */
  readonly actions: Readonly<Record<string, number>>;
  /** What the network did, summed over the schedules. */
  readonly network: NetworkStats;
}

const NO_TRAFFIC: NetworkStats = {
  sent: 0,
  delivered: 0,
  droppedByPartition: 0,
  droppedByCrash: 0,
  lost: 0,
  duplicated: 0,
  reordered: 0,
};

export class CoverageCollector {
  private readonly states = new Set<string>();
  private readonly transitions = new Set<string>();
  private readonly actions = new Map<string, number>();
  private readonly network: Record<keyof NetworkStats, number> = { ...NO_TRAFFIC };
  /** Per snapshot's active node list, its state ids: a step that changes no state costs a lookup. */
  private readonly idsOf = new WeakMap<object, readonly string[]>();

  /** For `modelCheckers(onEvents)`: replays each event the model took, noting states and transitions. */
  readonly onModelEvents: ModelEventsObserver = (_source, from, events) => {
    let snapshot = from;
    this.noteStates(snapshot);
    for (const event of events) {
      for (const t of relationshipMachine.getTransitionData(snapshot, event))
        this.transitions.add(transitionIdOf(t));
      snapshot = nextSnapshot(snapshot, event);
      this.noteStates(snapshot);
    }
  };

  /** A checker for one schedule (append it to the schedule's checkers): counts actions and traffic. */
  watcher(): LockstepChecker {
    let last: NetworkStats = NO_TRAFFIC;
    return {
      name: 'campaign-coverage',
      enabled: () => true,
      afterStep: (h: History) => {
        const kind = actionKind(h.action!);
        this.actions.set(kind, (this.actions.get(kind) ?? 0) + 1);
        const now = h.world.network.stats;
        for (const k of Object.keys(this.network) as (keyof NetworkStats)[])
          this.network[k] += now[k] - last[k];
        last = now;
        return null;
      },
    };
  }

  result(): CampaignCoverage {
    return {
      states: [...this.states].sort(),
      transitions: [...this.transitions].sort(),
      actions: Object.fromEntries([...this.actions].sort(([a], [b]) => a.localeCompare(b))),
      network: { ...this.network },
    };
  }

  private noteStates(snapshot: ModelSnapshot): void {
    const nodes = snapshot._nodes as readonly Parameters<typeof stateIdOf>[0][];
    let ids = this.idsOf.get(nodes);
    if (ids === undefined) {
      ids = nodes.map((n) => stateIdOf(n));
      this.idsOf.set(nodes, ids);
      for (const id of ids) this.states.add(id);
    }
  }
}

function actionKind(a: WorldAction): string {
  return a.kind === 'crash' && a.afterWrites !== undefined ? 'crash-mid-work' : a.kind;
}

/** Two shares of a campaign's coverage together (runs on other threads or machines). */
export function combineCoverage(a: CampaignCoverage, b: CampaignCoverage): CampaignCoverage {
  const actions: Record<string, number> = { ...a.actions };
  for (const [k, n] of Object.entries(b.actions)) actions[k] = (actions[k] ?? 0) + n;
  const network = { ...a.network };
  for (const k of Object.keys(network) as (keyof NetworkStats)[]) network[k] += b.network[k];
  return {
    states: [...new Set([...a.states, ...b.states])].sort(),
    transitions: [...new Set([...a.transitions, ...b.transitions])].sort(),
    actions: Object.fromEntries(Object.entries(actions).sort(([x], [y]) => x.localeCompare(y))),
    network,
  };
}
