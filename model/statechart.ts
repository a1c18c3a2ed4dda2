// The statechart of one mirroring relationship (one source, its link, the destination as it concerns
// this source): xstate v5, untimed (TICK is an event), pure guards and context; the spec and the oracle.
//
// Regions (parallel): source (serving: idle or a CP in its phases; crashed; recovering), destination
// (up, applyingCpSync, crashed, promoted), link (connected, partitioned), relationship (inSync,
// outOfSync, resyncing, failedOver). Events are the two families of events.ts.
//
// Choices the protocol leaves open, made here and checked in lockstep:
// - The source writes its own root before the destination's mirror commits the same CP (as the
//   reference implementation does, docs/reference-protocol.md): the mirror only ever holds images the
//   primary committed, so MIRROR_CP_COMMITTED{cp} needs cp <= primaryCp. In sync, the source completes
//   a CP (CP_COMPLETED) only once the mirror committed it: that is the destination's confirm.
// - A target shows only `cpInProgress`, not its CP phase: the model's phases advance one per TICK, and
//   PRIMARY_CP_COMMITTED is accepted from any phase before committing (a target may be faster).
// - The destination is `applyingCpSync` as soon as a CP sync or resync transfer may be on its way to it
//   (CP started in sync with the link up, a resync began, the link healed mid-CP, ...). Only from there
//   may its mirror commit; a CP sync it holds may still commit after a partition or a source crash.
// - Each pending write carries `mirrored`: its log entry may have reached the destination (accepted in
//   sync with the link up and the destination up, or later when the link healed, the destination came
//   back, or the relationship got back in sync). In sync, sync and strict-sync acks need it.
// - The destination's answers may arrive after it crashed (what it sent is still on the wire), so
//   resyncing and in sync need the link up, not the destination; a partition drops what is in flight.
// - Back in sync means the destination holds everything: every write acknowledged before REL_IN_SYNC
//   must survive a failover (abstract_data.ts, `guaranteeAcknowledged`).
// - The fault atlas (events.ts) keeps disk faults and power cuts within what RAID survives: the model
//   counts a side's outstanding disk faults (at most two, RAID-DP's tolerance) and refuses a power cut
//   inside a write (mid-CP, torn) while any is outstanding, the write hole; a cut between calls on a
//   degraded side is allowed (rule D6): the side comes back whole and owes what it owed. Past the source primary's tolerance (VOLUME_LOST, rule D4) the volume is
//   offline for good: its writes may fail, it owes no CP and may give one up, and it may lose power but
//   never restarts; the operator fails it over. Past the destination mirror's tolerance (MIRROR_LOST,
//   rule D5) the mirror is offline for good: it commits no CP again and is never promoted, the
//   destination takes no disk event for this source and no power cut; the source carries on
//   unmirrored (it must leave in sync to complete a CP, as after any unanswered CP sync).
// - FAILOVER is the operator's request; the destination is `promoted` (and the relationship
//   failedOver) once the target shows it (REL_FAILED_OVER). A destination crash may cut a promotion
//   short (the operator asks again) or hit the promoted volume (it restarts promoted).
// - Out of scope: failover while the old source still runs (fencing a live source).

import {
  type AnyActorScope,
  and,
  assign,
  createEmptyActor,
  not,
  or,
  type SnapshotFrom,
  setup,
  stateIn,
} from 'xstate';
import type { Mode, ModelEvent, NodeId, Side } from './events.ts';

export interface ModelInput {
  readonly sourceId: NodeId;
  readonly mode: Mode;
}

/** A client write accepted and neither acknowledged nor failed yet. */
export interface PendingWrite {
  readonly writeId: number;
  readonly lba: number;
  /** Its log entry may have reached the destination's log file for this source. */
  readonly mirrored: boolean;
}

/** A disk fault outstanding on one side: a failed disk not yet replaced, a latent error not yet repaired. */
export type SideFault = 'disk-failed' | 'latent-error';

/**
 * The faults outstanding on one side's RAID groups, oldest first. The fault atlas keeps each group
 * within its own tolerance; the model bounds a side at two (RAID-DP's) and needs none for a power cut.
 */
export type SideFaults = readonly SideFault[];

/** The most disk faults one side may have outstanding (RAID-DP survives two). */
export const MAX_SIDE_FAULTS = 2;

export interface ModelContext {
  readonly sourceId: NodeId;
  readonly mode: Mode;
  /** The source's last committed CP (its root). */
  readonly primaryCp: number;
  /** The destination's last committed CP of this source's mirror (after failover: of the promoted volume). */
  readonly mirrorCp: number;
  /** In acceptance order; a target may answer them in any order. */
  readonly pending: readonly PendingWrite[];
  /** Write ids only grow: a write id is never reused. */
  readonly lastWriteId: number;
  readonly faults: Readonly<Record<Side, SideFaults>>;
  /** The source went down in the middle of a CP and has not restarted since. */
  readonly crashedMidCp: boolean;
  /**
   * The destination went down while it was applying a CP sync: its root may have been written just
   * before the cut, and the target may show that commit only once the destination restarts.
   */
  readonly destCrashedApplying: boolean;
  /** The operator asked to fail over: the source is lost for good, even if the promotion must be retried. */
  readonly failoverRequested: boolean;
  /**
   * The source's primary group lost more disks than it tolerates (rule D4): its volume is offline for
   * good. It may fail any write, owes no CP, takes no disk fault or repair and never restarts.
   */
  readonly volumeLost: boolean;
  /**
   * The destination's mirror group of this source lost more disks than it tolerates (rule D5): the
   * mirror is offline for good. It commits no CP, is never promoted and takes no disk event again.
   */
  readonly mirrorLost: boolean;
}

// Guards on the context and the event alone: pure, no other region involved.

type Args = { readonly context: ModelContext; readonly event: ModelEvent };

const pendingOf = ({ context, event }: Args): PendingWrite | undefined =>
  'writeId' in event && event.type !== 'WRITE'
    ? context.pending.find((w) => w.writeId === event.writeId)
    : undefined;

const sideOf = (event: ModelEvent): Side | undefined => ('side' in event ? event.side : undefined);

// Context updates: pure functions from (context, event) to the next context.

function acceptWrite(context: ModelContext, event: ModelEvent, mirrored: boolean): ModelContext {
  if (event.type !== 'WRITE') return context;
  const write: PendingWrite = { writeId: event.writeId, lba: event.lba, mirrored };
  return { ...context, pending: [...context.pending, write], lastWriteId: event.writeId };
}

function answerWrite(context: ModelContext, event: ModelEvent): ModelContext {
  if (event.type !== 'WRITE_ACKED' && event.type !== 'WRITE_FAILED') return context;
  return { ...context, pending: context.pending.filter((w) => w.writeId !== event.writeId) };
}

function addFault(context: ModelContext, event: ModelEvent, fault: SideFault): ModelContext {
  const side = sideOf(event);
  if (side === undefined) return context;
  return { ...context, faults: { ...context.faults, [side]: [...context.faults[side], fault] } };
}

function removeFault(context: ModelContext, event: ModelEvent, fault: SideFault): ModelContext {
  const side = sideOf(event);
  if (side === undefined) return context;
  const at = context.faults[side].indexOf(fault);
  if (at < 0) return context;
  return {
    ...context,
    faults: { ...context.faults, [side]: context.faults[side].filter((_, i) => i !== at) },
  };
}

const hasFault = ({ context, event }: Args, fault: SideFault): boolean => {
  const side = sideOf(event);
  return side !== undefined && context.faults[side].includes(fault);
};

const ID = 'cpsync';

/**
 * A running source, serving or recovering: it takes each write (logged and forwarded; mirrored if in
 * sync with the link and the destination up), and may lose power between CPs.
 */
const RUNNING_SOURCE = {
  WRITE: [
    {
      guard: and(['freshWrite', 'inSync', 'linkConnected', 'destReachable']),
      actions: 'acceptMirroredWrite',
    },
    { guard: 'freshWrite', actions: 'acceptUnmirroredWrite' },
  ],
  CRASH_SOURCE: {
    guard: and(['noMidCpWrite', 'sourceMayLosePower']),
    target: 'crashed',
    actions: 'crashSource',
  },
} as const;
const at = (path: string) => stateIn(`#${ID}.${path}`);

export const relationshipMachine = setup({
  types: {
    context: {} as ModelContext,
    events: {} as ModelEvent,
    input: {} as ModelInput,
  },
  guards: {
    // Event and context.
    freshWrite: ({ context, event }) => event.type === 'WRITE' && event.writeId > context.lastWriteId,
    isPending: (args) => pendingOf(args) !== undefined,
    isPendingMirrored: (args) => pendingOf(args)?.mirrored === true,
    modeSyncOrStrict: ({ context }) => context.mode !== 'semi-sync',
    modeSync: ({ context }) => context.mode === 'sync',
    modeStrict: ({ context }) => context.mode === 'strict-sync',
    modeSemi: ({ context }) => context.mode === 'semi-sync',
    /** CP numbers only grow; gaps are allowed (harness/target.ts, rule C1). */
    nextPrimaryCp: ({ context, event }) =>
      event.type === 'PRIMARY_CP_COMMITTED' && event.cp > context.primaryCp,
    /** The mirror only commits a CP the primary committed, and never goes back. */
    mirrorFollowsPrimary: ({ context, event }) =>
      event.type === 'MIRROR_CP_COMMITTED' && event.cp > context.mirrorCp && event.cp <= context.primaryCp,
    /** After failover the promoted volume runs CPs of its own: they only need to go forward. */
    promotedCpAdvances: ({ context, event }) =>
      event.type === 'MIRROR_CP_COMMITTED' && event.cp > context.mirrorCp,
    mirrorConfirmed: ({ context }) => context.mirrorCp >= context.primaryCp,
    mirrorBehind: ({ context }) => context.mirrorCp < context.primaryCp,
    mirrorEqualsPrimary: ({ context }) => context.mirrorCp === context.primaryCp,
    destCrashedApplying: ({ context }) => context.destCrashedApplying,
    failoverRequested: ({ context }) => context.failoverRequested,
    volumeLost: ({ context }) => context.volumeLost,
    mirrorLost: ({ context }) => context.mirrorLost,
    /** Disk events of a side stop once its volume is lost (D4, D5): there is nothing left to repair. */
    sideVolumeKept: ({ context, event }) => {
      const side = sideOf(event);
      return side === 'source' ? !context.volumeLost : side !== 'destination' || !context.mirrorLost;
    },
    noMidCpWrite: ({ event }) => event.type === 'CRASH_SOURCE' && event.midCpWrite === undefined,
    sideBelowMaxFaults: ({ context, event }) => {
      const side = sideOf(event);
      return side !== undefined && context.faults[side].length < MAX_SIDE_FAULTS;
    },
    sideHasFailedDisk: (args) => hasFault(args, 'disk-failed'),
    sideHasLatentError: (args) => hasFault(args, 'latent-error'),
    sideIsSource: ({ event }) => sideOf(event) === 'source',
    sideIsDestination: ({ event }) => sideOf(event) === 'destination',
    /** No disk fault outstanding: a power cut inside a write on a degraded RAID group is the write hole. */
    sourceDisksHealthy: ({ context }) => context.faults.source.length === 0,
    /**
     * A power cut between two calls, no write of the node's in flight (D6): every stripe as its last
     * call left it, so a degraded group within tolerance comes back whole. Lockstep feeds every crash
     * this way; the atlas cuts inside a call (an armed cut, a cut rebuild) only on a node without faults.
     */
    cutBetweenCalls: ({ event }) =>
      event.type === 'CRASH_DEST' ||
      (event.type === 'CRASH_SOURCE' && event.midCpWrite === undefined && event.torn !== true),
    sourceHasFailedDisk: ({ context }) => context.faults.source.includes('disk-failed'),
    destHasFailedDisk: ({ context }) => context.faults.destination.includes('disk-failed'),
    /**
     * A power cut on the source: inside a write only with no fault outstanding (the write hole), unless
     * the volume is lost; between calls, within tolerance, always (D6).
     */
    sourceMayLosePower: or(['sourceDisksHealthy', 'volumeLost', 'cutBetweenCalls']),
    /** A power cut on the destination: between calls (D6), and never once a mirror is lost (D5). */
    destMayLosePower: and(['cutBetweenCalls', not('mirrorLost')]),
    // The other regions, through stateIn.
    sourceUp: not(at('source.crashed')),
    sourceCrashed: at('source.crashed'),
    sourceBetweenCps: or([at('source.serving.idle'), at('source.recovering')]),
    sourceInCp: at('source.serving.cp'),
    destReachable: or([at('destination.up'), at('destination.applyingCpSync')]),
    destPromoted: at('destination.promoted'),
    sideNodeUp: or([
      and(['sideIsSource', not(at('source.crashed')), not(at('destination.promoted'))]),
      and(['sideIsDestination', not(at('destination.crashed'))]),
    ]),
    linkConnected: at('link.connected'),
    linkPartitioned: at('link.partitioned'),
    inSync: at('relationship.inSync'),
    outOfSync: at('relationship.outOfSync'),
    failedOver: at('relationship.failedOver'),
    resyncing: at('relationship.resyncing'),
  },
  actions: {
    acceptMirroredWrite: assign(({ context, event }) => acceptWrite(context, event, true)),
    acceptUnmirroredWrite: assign(({ context, event }) => acceptWrite(context, event, false)),
    answerWrite: assign(({ context, event }) => answerWrite(context, event)),
    markPendingMirrored: assign(({ context }) => ({
      pending: context.pending.map((w) => (w.mirrored ? w : { ...w, mirrored: true })),
    })),
    commitPrimary: assign(({ context, event }) =>
      event.type === 'PRIMARY_CP_COMMITTED' ? { primaryCp: event.cp } : context,
    ),
    commitMirror: assign(({ context, event }) =>
      event.type === 'MIRROR_CP_COMMITTED' ? { mirrorCp: event.cp } : context,
    ),
    // Memory is lost: pending writes are neither acknowledged nor failed, ever (their fate is in doubt).
    crashSource: assign({ pending: [], crashedMidCp: false }),
    crashSourceMidCp: assign({ pending: [], crashedMidCp: true }),
    restartSource: assign({ crashedMidCp: false }),
    crashDest: assign({ destCrashedApplying: false }),
    crashDestApplying: assign({ destCrashedApplying: true }),
    restartDest: assign({ destCrashedApplying: false }),
    requestFailover: assign({ failoverRequested: true }),
    loseVolume: assign({ volumeLost: true }),
    loseMirror: assign({ mirrorLost: true }),
    // The promoted volume's memory is lost: its pending writes are in doubt, as a source's are.
    crashPromoted: assign({ pending: [] }),
    failDisk: assign(({ context, event }) => addFault(context, event, 'disk-failed')),
    corruptBlock: assign(({ context, event }) => addFault(context, event, 'latent-error')),
    // The failed disk is out: its spare is being written, the rest of the group is whole again.
    replaceDisk: assign(({ context, event }) => removeFault(context, event, 'disk-failed')),
    repairLatentError: assign(({ context, event }) => removeFault(context, event, 'latent-error')),
    // No state changes, but the event is enabled: `can` needs an action or a target to say so.
    timePasses: () => {},
    serveRead: () => {},
  },
}).createMachine({
  id: ID,
  type: 'parallel',
  context: ({ input }) => ({
    sourceId: input.sourceId,
    mode: input.mode,
    primaryCp: 0,
    mirrorCp: 0,
    pending: [],
    lastWriteId: 0,
    faults: { source: [], destination: [] },
    crashedMidCp: false,
    destCrashedApplying: false,
    failoverRequested: false,
    volumeLost: false,
    mirrorLost: false,
  }),
  // Events no region handles: time, reads, answers to clients, disk faults.
  on: {
    TICK: { actions: 'timePasses' },
    READ: { guard: or(['sourceUp', 'destPromoted']), actions: 'serveRead' },
    WRITE_ACKED: [
      {
        guard: and(['isPendingMirrored', 'modeSyncOrStrict', 'inSync', 'sourceUp']),
        actions: 'answerWrite',
        description: 'sync/strict-sync in sync: after the NVLOG and the destination log-ack',
      },
      {
        guard: and(['isPending', 'sourceUp', or(['modeSemi', and(['modeSync', not('inSync')])])]),
        actions: 'answerWrite',
        description: 'semi-sync, or sync out of sync: after the local NVLOG alone',
      },
      {
        guard: and(['isPending', 'destPromoted']),
        actions: 'answerWrite',
        description: 'the promoted mirror answers for itself',
      },
    ],
    WRITE_FAILED: [
      {
        guard: and(['isPending', 'modeStrict', not('inSync'), 'sourceUp']),
        actions: 'answerWrite',
        description: 'strict-sync: a write fails instead of being acknowledged unmirrored',
      },
      {
        guard: and(['isPending', 'volumeLost', 'sourceUp']),
        actions: 'answerWrite',
        description: 'the source volume is offline (D4): any write may fail',
      },
    ],
    // A disk fails only on a running side: a power cut may have left stale parity that only the
    // restart's parity resync repairs, and a failed disk before that is a second fault.
    DISK_FAIL: {
      guard: and(['sideBelowMaxFaults', 'sideNodeUp', 'sideVolumeKept']),
      actions: 'failDisk',
    },
    LATENT_ERROR: {
      guard: and(['sideBelowMaxFaults', 'sideNodeUp', 'sideVolumeKept']),
      actions: 'corruptBlock',
    },
    // The rebuild runs on the side's server: it must be up.
    REPLACE_DISK: {
      guard: and(['sideHasFailedDisk', 'sideNodeUp', 'sideVolumeKept']),
      actions: 'replaceDisk',
    },
    // A disk of the running source's primary failed past its tolerance: the harness fails it while the
    // group's outstanding faults are failed disks at its tolerance, at least one.
    VOLUME_LOST: {
      guard: and([
        'sourceUp',
        not('destPromoted'),
        not('volumeLost'),
        not('mirrorLost'),
        'sourceHasFailedDisk',
      ]),
      actions: 'loseVolume',
    },
    // The same past the destination mirror's tolerance (D5), while the destination runs and the source
    // is not being failed over: a lost mirror is never promoted.
    MIRROR_LOST: {
      guard: and([
        'destReachable',
        not('failoverRequested'),
        not('volumeLost'),
        not('mirrorLost'),
        'destHasFailedDisk',
      ]),
      actions: 'loseMirror',
    },
    // The harness saw a latent error gone from the disks it owns (its block rewritten, or its disk
    // failed since): whatever the side's state, the repair already happened.
    DISK_REPAIRED: { guard: 'sideHasLatentError', actions: 'repairLatentError' },
  },
  states: {
    source: {
      initial: 'serving',
      states: {
        serving: {
          initial: 'idle',
          on: {
            ...RUNNING_SOURCE,
          },
          states: {
            idle: { on: { CP_STARTED: 'cp' } },
            cp: {
              initial: 'frozen',
              description: 'a CP is in progress: the target shows cpInProgress',
              on: {
                CRASH_SOURCE: {
                  guard: 'sourceMayLosePower',
                  target: '#cpsync.source.crashed',
                  actions: 'crashSourceMidCp',
                },
                // A CP that cannot reach an offline volume may be given up, never committed (D4).
                CP_COMPLETED: { guard: 'volumeLost', target: '#cpsync.source.serving.idle' },
              },
              states: {
                frozen: {
                  description: 'the active NVLOG half is frozen; new writes go to the other half',
                  on: {
                    TICK: 'flushing',
                    PRIMARY_CP_COMMITTED: {
                      guard: 'nextPrimaryCp',
                      target: 'committing',
                      actions: 'commitPrimary',
                    },
                  },
                },
                flushing: {
                  description: 'dirty blocks get VBNs and go through the RAID layer',
                  on: {
                    TICK: 'cpSync',
                    PRIMARY_CP_COMMITTED: {
                      guard: 'nextPrimaryCp',
                      target: 'committing',
                      actions: 'commitPrimary',
                    },
                  },
                },
                cpSync: {
                  description:
                    "the CP's VBN updates go to the destination (a target may send them after its root)",
                  on: {
                    PRIMARY_CP_COMMITTED: {
                      guard: 'nextPrimaryCp',
                      target: 'committing',
                      actions: 'commitPrimary',
                    },
                  },
                },
                committing: {
                  description: "the source's root is written; the CP completes on the mirror's confirm",
                  on: {
                    CP_COMPLETED: [
                      { guard: 'mirrorConfirmed', target: '#cpsync.source.serving.idle' },
                      { guard: not('inSync'), target: '#cpsync.source.serving.idle' },
                    ],
                  },
                },
              },
            },
          },
        },
        crashed: {
          on: {
            RESTART_SOURCE: {
              guard: and([not('failoverRequested'), not('volumeLost')]),
              target: 'recovering',
              actions: 'restartSource',
            },
          },
        },
        recovering: {
          description:
            'restarted: the last committed image is mounted and the NVLOG replayed, before its first CP',
          on: {
            CP_STARTED: 'serving.cp',
            ...RUNNING_SOURCE,
          },
        },
      },
    },
    destination: {
      initial: 'up',
      states: {
        up: {
          on: {
            // A CP sync or resync transfer sent earlier may arrive late (a slow link, a delayed or
            // stale copy), after the source gave up on it: the mirror may commit it, in any
            // relationship state. What it holds is judged by the CP image rules, not by when.
            MIRROR_CP_COMMITTED: {
              guard: and(['mirrorFollowsPrimary', 'linkConnected', not('mirrorLost')]),
              actions: 'commitMirror',
            },
            CP_STARTED: {
              guard: and(['sourceBetweenCps', 'inSync', 'linkConnected']),
              target: 'applyingCpSync',
            },
            // Time lets a CP sync reach the destination, or a resync transfer be sent (again).
            TICK: {
              guard: and(['sourceUp', 'linkConnected', or([and(['sourceInCp', 'inSync']), 'resyncing'])]),
              target: 'applyingCpSync',
            },
            HEAL: {
              guard: and(['sourceInCp', 'inSync', 'linkPartitioned']),
              target: 'applyingCpSync',
            },
            REL_RESYNCING: {
              guard: and(['outOfSync', 'sourceUp', 'linkConnected']),
              target: 'applyingCpSync',
            },
            CRASH_DEST: { guard: 'destMayLosePower', target: 'crashed', actions: 'crashDest' },
            FAILOVER: {
              guard: and(['sourceCrashed', 'outOfSync', not('mirrorLost')]),
              actions: 'requestFailover',
            },
            REL_FAILED_OVER: { guard: and(['failoverRequested', 'outOfSync']), target: 'promoted' },
          },
        },
        applyingCpSync: {
          description:
            'a CP sync or resync transfer may be on its way or being written: the mirror may commit it',
          on: {
            MIRROR_CP_COMMITTED: {
              guard: and(['mirrorFollowsPrimary', not('mirrorLost')]),
              target: 'up',
              actions: 'commitMirror',
            },
            CRASH_DEST: { guard: 'destMayLosePower', target: 'crashed', actions: 'crashDestApplying' },
            FAILOVER: {
              guard: and(['sourceCrashed', 'outOfSync', not('mirrorLost')]),
              actions: 'requestFailover',
            },
            REL_FAILED_OVER: { guard: and(['failoverRequested', 'outOfSync']), target: 'promoted' },
          },
        },
        crashed: {
          on: {
            // Back up: a CP sync may flow again (the source resends it), or the CP sync it was
            // applying may turn out committed; pending writes may be logged again if in sync.
            RESTART_DEST: [
              // The promotion is durable: a promoted destination restarts promoted.
              { guard: 'failedOver', target: 'promoted', actions: 'restartDest' },
              {
                guard: and([
                  'sourceUp',
                  'inSync',
                  'linkConnected',
                  or(['sourceInCp', 'destCrashedApplying', 'mirrorBehind']),
                ]),
                target: 'applyingCpSync',
                actions: ['markPendingMirrored', 'restartDest'],
              },
              // A CP sync the source sent before it crashed (or while this side was down) may still be
              // on the wire, if the link has not dropped it: the mirror may yet commit it.
              {
                guard: or(['destCrashedApplying', and(['linkConnected', 'mirrorBehind'])]),
                target: 'applyingCpSync',
                actions: 'restartDest',
              },
              {
                guard: and(['sourceUp', 'inSync', 'linkConnected']),
                target: 'up',
                actions: ['markPendingMirrored', 'restartDest'],
              },
              { target: 'up', actions: 'restartDest' },
            ],
          },
        },
        promoted: {
          description: "after failover: the mirror plus its log file's replay serves this source's volume",
          on: {
            WRITE: { guard: 'freshWrite', actions: 'acceptUnmirroredWrite' },
            MIRROR_CP_COMMITTED: { guard: 'promotedCpAdvances', actions: 'commitMirror' },
            CRASH_DEST: {
              guard: 'destMayLosePower',
              target: 'crashed',
              actions: ['crashDest', 'crashPromoted'],
            },
          },
        },
      },
    },
    link: {
      initial: 'connected',
      states: {
        // Once the source is lost for good a partition no longer matters: none is scheduled.
        connected: { on: { PARTITION: { guard: not('failoverRequested'), target: 'partitioned' } } },
        partitioned: {
          on: {
            HEAL: [
              {
                guard: and([not('failoverRequested'), 'inSync', 'destReachable', 'sourceUp']),
                target: 'connected',
                actions: 'markPendingMirrored',
              },
              // After failover the link no longer matters, but it can still be repaired.
              { target: 'connected' },
            ],
          },
        },
      },
    },
    relationship: {
      initial: 'inSync',
      states: {
        inSync: {
          on: {
            // Always allowed while the source is up: a slow link times out as a broken one does.
            REL_OUT_OF_SYNC: { guard: 'sourceUp', target: 'outOfSync' },
            CRASH_SOURCE: {
              guard: and(['sourceUp', 'sourceMayLosePower', or(['sourceInCp', 'noMidCpWrite'])]),
              target: 'outOfSync',
            },
          },
        },
        outOfSync: {
          on: {
            // The destination's answers may arrive after it crashed: only the link must be up (a
            // partition drops what is in flight). So for REL_IN_SYNC below.
            REL_RESYNCING: { guard: and(['sourceUp', 'linkConnected']), target: 'resyncing' },
            REL_FAILED_OVER: {
              guard: and(['failoverRequested', 'destReachable']),
              target: 'failedOver',
            },
          },
        },
        resyncing: {
          on: {
            REL_IN_SYNC: {
              guard: and(['sourceUp', 'linkConnected', 'mirrorEqualsPrimary']),
              target: 'inSync',
              actions: 'markPendingMirrored',
            },
            REL_OUT_OF_SYNC: { guard: 'sourceUp', target: 'outOfSync' },
            CRASH_SOURCE: {
              guard: and(['sourceUp', 'sourceMayLosePower', or(['sourceInCp', 'noMidCpWrite'])]),
              target: 'outOfSync',
            },
          },
        },
        failedOver: { description: 'the destination was promoted: this relationship is over' },
      },
    },
  },
});

export type RelationshipMachine = typeof relationshipMachine;
export type ModelSnapshot = SnapshotFrom<RelationshipMachine>;

/**
 * An actor scope that runs nothing: actions other than assign are handed to `actionExecutor` and
 * dropped, as in xstate/graph's own traversal. It holds no state of its own.
 */
const INERT_SCOPE: AnyActorScope = (() => {
  const empty = createEmptyActor();
  return {
    self: empty,
    id: '',
    sessionId: '',
    logger: () => {},
    defer: () => {},
    emit: () => {},
    system: empty.system,
    stopChild: () => {},
    actionExecutor: () => {},
  };
})();

/**
 * One pure step of the statechart. The same as xstate's `transition(machine, snapshot, event)[0]`,
 * which builds a fresh actor (and so the initial snapshot) on every call: about five times slower.
 */
export function nextSnapshot(snapshot: ModelSnapshot, event: ModelEvent): ModelSnapshot {
  return relationshipMachine.transition(snapshot, event, INERT_SCOPE);
}

/** The control state of each region as a dotted path: what the refinement mapping compares. */
export interface ControlState {
  readonly source: SourceState;
  readonly destination: DestinationState;
  readonly link: LinkState;
  readonly relationship: RelationshipRegionState;
}

export type SourceState =
  | 'serving.idle'
  | 'serving.cp.frozen'
  | 'serving.cp.flushing'
  | 'serving.cp.cpSync'
  | 'serving.cp.committing'
  | 'crashed'
  | 'recovering';
export type DestinationState = 'up' | 'applyingCpSync' | 'crashed' | 'promoted';
export type LinkState = 'connected' | 'partitioned';
export type RelationshipRegionState = 'inSync' | 'outOfSync' | 'resyncing' | 'failedOver';

type StateValueTree = string | { readonly [key: string]: StateValueTree };

function dotted(value: StateValueTree | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value)[0] ?? ['', undefined];
  const rest = dotted(child);
  return rest === '' ? key : `${key}.${rest}`;
}

export function controlState(snapshot: ModelSnapshot): ControlState {
  const value = snapshot.value as Record<string, StateValueTree>;
  return {
    source: dotted(value.source) as SourceState,
    destination: dotted(value.destination) as DestinationState,
    link: dotted(value.link) as LinkState,
    relationship: dotted(value.relationship) as RelationshipRegionState,
  };
}

/**
 * The graph tools' view of a snapshot: the control state plus small bounded abstractions of the
 * context (what the guards read), never write ids or CP numbers themselves, so the state graph stays
 * finite. Guards compare CP numbers only by order (mirror behind, equal or ahead of the primary), and
 * pending writes only by whether some are mirrored and some are not. Measured with paths.ts's event
 * lists: 1065 graph states per mode (the chart has 24 states and 61 transitions; all are reached).
 */
export function serializeState(snapshot: ModelSnapshot): string {
  const c = snapshot.context;
  const cpOrder = c.mirrorCp === c.primaryCp ? '=' : c.mirrorCp < c.primaryCp ? '<' : '>';
  const mirrored = c.pending.some((w) => w.mirrored) ? 'm' : '';
  const unmirrored = c.pending.some((w) => !w.mirrored) ? 'u' : '';
  const s = controlState(snapshot);
  return [
    s.source,
    s.destination,
    s.link,
    s.relationship,
    `cp${cpOrder}`,
    `p:${mirrored}${unmirrored}`,
    `f:${c.faults.source.map((f) => f[0]).join('') || 'n'}${c.faults.destination.map((f) => f[0]).join('') || 'n'}`,
    c.crashedMidCp ? 'midcp' : '',
    c.destCrashedApplying ? 'dst-applying' : '',
    // Without it FAILOVER would lead back to the same graph state, and promotion would go unexplored.
    c.failoverRequested ? 'failover-requested' : '',
    // A lost volume (D4) enables what a serving one may not (failing any write, giving up a CP).
    c.volumeLost ? 'volume-lost' : '',
    c.mirrorLost ? 'mirror-lost' : '',
  ].join('|');
}
