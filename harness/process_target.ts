// A conformance target whose nodes are programs in any language: one child process per node, speaking
// the JSON-lines protocol of docs/process-targets.md, while the harness keeps the media. Fault model:
// as in process (power cut after any media write, torn or whole, failed disks, latent errors); a crash
// kills the node's process, a restart starts a new one on the same media. A node that misbehaves ends
// the run with a NodeMisbehaved (a target-contract verdict) naming the node and what it did.

import { resolve } from 'node:path';
import type { Disk } from './media/disk.ts';
import { DiskFailed, PowerLoss } from './media/errors.ts';
import { ProcessPump, splitCommand } from './process_channel.ts';
import {
  describeIssues,
  destinationObservationSchema,
  fromBase64,
  type MediaOp,
  type MediaResult,
  nodeMessageSchema,
  PROCESS_PROTOCOL_VERSION,
  type Reply,
  type RequestType,
  SUPPORTED_PROTOCOL_VERSIONS,
  sourceObservationSchema,
  toBase64,
} from './process_protocol.ts';
import {
  type ClientWrite,
  type ConformanceTarget,
  DESTINATION,
  type Effect,
  type LogRecord,
  type MessageDescription,
  type NodeId,
  type NodeMedia,
  type Observation,
  type ReadResult,
  type RelationshipState,
  type SourceObservation,
  type TargetInstance,
  type WorldSpec,
} from './target.ts';
import { TargetError } from './world.ts';

/** The prefix that names a process target where a target name goes (`--target-cmd`, a counterexample). */
export const COMMAND_TARGET_PREFIX = 'cmd:';

export interface ProcessTargetOptions {
  /** "COMMAND ARGS", split as a shell splits plain and quoted words; run once per node. */
  readonly command: string;
  /** A node that has not answered for this long hangs (60 s by default). */
  readonly hangTimeoutMs?: number;
  /** Where the command runs (the current directory by default). */
  readonly cwd?: string;
  readonly expected?: 'pass' | 'fail';
  /** Keep every line exchanged with the nodes (`--check-determinism` compares them). */
  readonly transcript?: boolean;
}

/** A node program broke the protocol, exited, hung or reported an error: the run ends with this. */
export class NodeMisbehaved extends TargetError {
  constructor(
    target: string,
    readonly node: NodeId,
    override readonly call: string,
    readonly what: string,
    /** The tail of the node's stderr, for the counterexample's trace. */
    readonly stderrTail: readonly string[],
  ) {
    super(target, `${call}(${node})`, new Error(what));
    this.message = `node ${node} ${what} (during ${call})`;
  }
}

export interface ProcessConformanceTarget extends ConformanceTarget {
  readonly command: string;
  /** The lines exchanged with the nodes of the last world booted, when `transcript` is on. */
  lastTranscript(): readonly string[] | null;
  /** Kills every node process this target started. */
  dispose(): void;
}

export function processTarget(options: ProcessTargetOptions): ProcessConformanceTarget {
  const words = splitCommand(options.command);
  if (words.length === 0) throw new RangeError('--target-cmd needs a command');
  let pump: ProcessPump | null = null;
  let current: ProcessWorld | null = null;
  // Processes of finished worlds, alive and idle: the next world's init starts them over.
  const idle: number[] = [];
  const name = `${COMMAND_TARGET_PREFIX}${options.command}`;
  return {
    name,
    description: `a process per node: ${options.command}`,
    expected: options.expected ?? 'pass',
    command: options.command,
    boot(spec, media) {
      pump ??= new ProcessPump();
      // The previous world is over (runs are sequential on a thread): its live processes wait for init.
      if (current) idle.push(...current.release());
      current = new ProcessWorld(name, spec, media, pump, idle, {
        command: words[0]!,
        args: words.slice(1),
        cwd: resolve(options.cwd ?? '.'),
        hangTimeoutMs: options.hangTimeoutMs ?? 60_000,
        transcript: options.transcript ?? false,
      });
      current.bootAll();
      return current;
    },
    lastTranscript: () => current?.transcript ?? null,
    dispose() {
      current?.killAll();
      current = null;
      for (const key of idle.splice(0)) pump?.kill(key);
    },
  };
}

interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly hangTimeoutMs: number;
  readonly transcript: boolean;
}

interface NodeProcess {
  readonly key: number;
  describes: boolean;
  /** Its `ready` said it answers `scrub` (protocol 2). */
  scrubs: boolean;
  /** The protocol version the node answered `init` with. */
  protocol: number;
  /** Protocol 3: `mediaEpoch`, and the signature of the media changes it counts (mediaSignature). */
  mediaEpoch: number;
  mediaSignature: string;
}

interface Seen {
  primaryCp: number;
  mirrorCp: number;
  promoted: boolean;
}

const STDERR_TAIL_LINES = 12;

/** The requests after which a version 2 node's reply carries its console (`observation`). */
const CHANGES_STATE: ReadonlySet<RequestType> = new Set<RequestType>([
  'init',
  'client-write',
  'client-read',
  'receive',
  'tick',
  'failover',
  'replace-disk',
  'scrub',
]);

class ProcessWorld implements TargetInstance {
  private readonly procs = new Map<NodeId, NodeProcess>();
  private readonly seen = new Map<NodeId, Seen>();
  private readonly sourceObs = new Map<NodeId, SourceObservation>();
  /** Per source, the relationship states its replies showed since the world last observed (rule O5). */
  private readonly pathSinceObserve = new Map<NodeId, RelationshipState[]>();
  private readonly disks = new Map<NodeId, Map<string, Disk>>();
  private effects: Effect[] = [];
  private nextId = 1;
  readonly transcript: string[] | null;
  readonly nodes: readonly NodeId[];

  constructor(
    private readonly name: string,
    private readonly spec: WorldSpec,
    private readonly media: Readonly<Record<NodeId, NodeMedia>>,
    private readonly pump: ProcessPump,
    private readonly idle: number[],
    private readonly launch: Launch,
  ) {
    this.transcript = launch.transcript ? [] : null;
    this.nodes = [...spec.sources.map((s) => s.id), DESTINATION];
    for (const s of spec.sources) this.seen.set(s.id, { primaryCp: 0, mirrorCp: 0, promoted: false });
  }

  /**
   * Rule D3's optional scrub: present when every node said at its first `init` that it scrubs (a
   * target without it is never asked, so the harness must know before the schedule runs).
   */
  scrub?: (node: NodeId) => void;

  /** Every node starts at once (their start-up overlaps), then each is told to format its media. */
  bootAll(): void {
    for (const node of this.nodes) this.start(node);
    for (const node of this.nodes) this.init(node, 'format');
    if (this.nodes.every((n) => this.procs.get(n)!.scrubs))
      this.scrub = (node) => {
        if (this.procs.get(node)?.scrubs !== true)
          throw this.misbehaved(node, 'scrub', 'said at its first init that it scrubs, and no longer does');
        this.call(node, 'scrub', {});
      };
  }

  killAll(): void {
    for (const p of this.procs.values()) this.pump.kill(p.key);
    this.procs.clear();
  }

  /** The world is over: its live processes, for the next world to start over with `init`. */
  release(): number[] {
    const keys = [...this.procs.values()].map((p) => p.key);
    this.procs.clear();
    return keys;
  }

  clientWrite(source: NodeId, write: ClientWrite): void {
    const node = this.servingNode(source);
    this.call(node, 'client-write', {
      source,
      writeId: write.writeId,
      lba: write.lba,
      data: toBase64(write.data),
    });
  }

  clientRead(source: NodeId, lba: number): ReadResult {
    const node = this.servingNode(source);
    const r = this.call(node, 'client-read', { source, lba });
    if (!r.read) throw this.misbehaved(node, 'client-read', 'answered client-read without `read`');
    return r.read.ok ? { ok: true, data: fromBase64(r.read.data) } : { ok: false, error: r.read.error };
  }

  receive(to: NodeId, from: NodeId, bytes: Uint8Array): void {
    this.call(to, 'receive', { from, bytes: toBase64(bytes) });
  }

  tick(node: NodeId): void {
    this.call(node, 'tick', { ticks: 1 });
  }

  drainEffects(): Effect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  crash(node: NodeId): void {
    const p = this.procs.get(node);
    if (p) this.pump.kill(p.key);
    this.procs.delete(node);
    this.sourceObs.delete(node);
    this.pathSinceObserve.delete(node);
  }

  restart(node: NodeId): void {
    this.start(node);
    this.init(node, 'recover');
  }

  failover(source: NodeId): void {
    if (!this.procs.has(DESTINATION)) throw new Error('failover needs the destination up');
    this.call(DESTINATION, 'failover', { source });
    if (this.procs.get(DESTINATION)!.protocol < 2) this.observeNode(DESTINATION);
  }

  replaceDisk(node: NodeId, group: string, index: number, spare: Disk): void {
    if (!this.procs.has(node)) return;
    this.disks.get(node)?.set(spare.id, spare);
    this.call(node, 'replace-disk', { group, index, disk: diskInfo(spare) });
  }

  observe(): Observation {
    // A version 2 node's every reply that may change its state carries its console: nothing to ask.
    for (const node of this.nodes) if ((this.procs.get(node)?.protocol ?? 2) < 2) this.observeNode(node);
    const sources: Record<NodeId, SourceObservation> = {};
    for (const s of this.spec.sources) {
      const seen = this.seen.get(s.id)!;
      const mine = this.procs.has(s.id) ? this.sourceObs.get(s.id) : undefined;
      // Several replies may fall between two observations: their paths, joined, are this step's.
      const path = this.pathSinceObserve.get(s.id) ?? [];
      this.pathSinceObserve.set(s.id, []);
      sources[s.id] = {
        up: mine !== undefined,
        relationship: seen.promoted ? 'failed-over' : (mine?.relationship ?? 'out-of-sync'),
        primaryCp: seen.primaryCp,
        mirrorCp: seen.mirrorCp,
        cpInProgress: mine?.cpInProgress ?? false,
        pendingWrites: mine?.pendingWrites ?? 0,
        ...(mine && path.length > 1 ? { relationshipPath: path } : {}),
      };
    }
    return { destinationUp: this.procs.has(DESTINATION), sources };
  }

  readPrimaryCommitted(source: NodeId, lba: number): Uint8Array {
    return this.bytesOf(this.upSource(source), 'read-committed', { source, side: 'primary', lba });
  }

  readMirrorCommitted(source: NodeId, lba: number): Uint8Array {
    return this.bytesOf(this.upDestination(), 'read-committed', { source, side: 'mirror', lba });
  }

  /** One `read-image` request (protocol 2); a version 1 node is asked LBA by LBA. */
  readCommittedImage(source: NodeId, side: 'primary' | 'mirror'): Uint8Array[] {
    const node = side === 'primary' ? this.upSource(source) : this.upDestination();
    const lbaCount = this.spec.sources.find((s) => s.id === source)?.lbaCount;
    if (lbaCount === undefined) throw new RangeError(`no source ${source}`);
    if (this.procs.get(node)!.protocol < 2)
      return Array.from({ length: lbaCount }, (_, lba) =>
        this.bytesOf(node, 'read-committed', { source, side, lba }),
      );
    const r = this.call(node, 'read-image', { source, side });
    if (!r.blocks) throw this.misbehaved(node, 'read-image', 'answered read-image without `blocks`');
    if (r.blocks.length !== lbaCount)
      throw this.misbehaved(
        node,
        'read-image',
        `answered read-image with ${r.blocks.length} blocks; ${source} has ${lbaCount} LBAs`,
      );
    return r.blocks.map(fromBase64);
  }

  liveVbns(source: NodeId, side: 'primary' | 'mirror'): number[] {
    const node = side === 'primary' ? this.upSource(source) : this.upDestination();
    const r = this.call(node, 'live-vbns', { source, side });
    if (!r.vbns) throw this.misbehaved(node, 'live-vbns', 'answered live-vbns without `vbns`');
    return r.vbns;
  }

  readVbn(source: NodeId, side: 'primary' | 'mirror', vbn: number): Uint8Array {
    const node = side === 'primary' ? this.upSource(source) : this.upDestination();
    return this.bytesOf(node, 'read-vbn', { source, side, vbn });
  }

  /** One `read-vbns` request (protocol 2); a version 1 node is asked VBN by VBN. */
  readVbns(source: NodeId, side: 'primary' | 'mirror', vbns: readonly number[]): Uint8Array[] {
    const node = side === 'primary' ? this.upSource(source) : this.upDestination();
    if (this.procs.get(node)!.protocol < 2)
      return vbns.map((vbn) => this.bytesOf(node, 'read-vbn', { source, side, vbn }));
    const r = this.call(node, 'read-vbns', { source, side, vbns });
    if (r.blocks?.length !== vbns.length)
      throw this.misbehaved(
        node,
        'read-vbns',
        `answered read-vbns with ${r.blocks ? `${r.blocks.length} blocks` : 'no `blocks`'} for ${vbns.length} VBNs`,
      );
    return r.blocks.map(fromBase64);
  }

  logFile(source: NodeId): LogRecord[] {
    const node = this.upDestination();
    const r = this.call(node, 'log-file', { source });
    if (!r.records) throw this.misbehaved(node, 'log-file', 'answered log-file without `records`');
    return r.records.map((x) => ({ source, seq: x.seq, lba: x.lba, data: fromBase64(x.data) }));
  }

  /** Asked of the sender when it is up and describes its messages (else of any node that does). */
  describeMessage(bytes: Uint8Array, from: NodeId): MessageDescription | null | undefined {
    const candidates = [from, ...this.nodes.filter((n) => n !== from)];
    const node = candidates.find((n) => this.procs.get(n)?.describes === true);
    if (node === undefined) return undefined;
    const r = this.call(node, 'describe', { bytes: toBase64(bytes) });
    return r.description ?? null;
  }

  // --- the node processes

  private start(node: NodeId): void {
    const spawn = () => this.pump.spawn(this.launch.command, this.launch.args, this.launch.cwd);
    const key = this.idle.pop() ?? spawn();
    // One spare starts now, so that the next restart does not wait for a program to start up.
    if (this.idle.length === 0) this.idle.push(spawn());
    this.procs.set(node, {
      key,
      describes: false,
      scrubs: false,
      protocol: PROCESS_PROTOCOL_VERSION,
      mediaEpoch: 0,
      mediaSignature: '',
    });
    const disks = new Map<string, Disk>();
    for (const group of Object.values(this.media[node]!.groups)) for (const d of group) disks.set(d.id, d);
    this.disks.set(node, disks);
  }

  private init(node: NodeId, start: 'format' | 'recover'): void {
    const m = this.media[node]!;
    const groups = Object.fromEntries(Object.entries(m.groups).map(([g, ds]) => [g, ds.map(diskInfo)]));
    const r = this.call(node, 'init', {
      protocol: PROCESS_PROTOCOL_VERSION,
      node,
      spec: this.spec,
      media: { ...(m.nvram ? { nvramBytes: m.nvram.bytes } : {}), groups },
      start,
    });
    if (!r.ready) throw this.misbehaved(node, 'init', 'answered init without `ready`');
    if (!SUPPORTED_PROTOCOL_VERSIONS.includes(r.ready.protocol))
      throw this.misbehaved(
        node,
        'init',
        `speaks protocol version ${r.ready.protocol}; the harness speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(' and ')}`,
      );
    const p = this.procs.get(node)!;
    p.describes = r.ready.describes === true;
    p.scrubs = r.ready.protocol >= 2 && r.ready.scrubs === true;
    p.protocol = r.ready.protocol;
    this.afterReply(node, 'init', r);
  }

  private observeNode(node: NodeId): void {
    const r = this.call(node, 'observe', {});
    this.remember(node, r, 'observe');
  }

  /** What a node's console showed: kept for when it is down (rule O1). */
  private remember(node: NodeId, r: Reply, call: string): void {
    if (r.observation === undefined) {
      if (call === 'observe') throw this.misbehaved(node, call, 'answered observe without `observation`');
      return;
    }
    if (node === DESTINATION) {
      const o = destinationObservationSchema.safeParse(r.observation);
      if (!o.success)
        throw this.misbehaved(
          node,
          call,
          `sent a destination observation of the wrong shape: ${describeIssues(o.error)}`,
        );
      for (const s of this.spec.sources) {
        const m = o.data.mirrors[s.id];
        if (!m) throw this.misbehaved(node, call, `observed no mirror of ${s.id}`);
        const seen = this.seen.get(s.id)!;
        seen.mirrorCp = m.mirrorCp;
        seen.promoted = m.promoted;
      }
      return;
    }
    const o = sourceObservationSchema.safeParse(r.observation);
    if (!o.success)
      throw this.misbehaved(
        node,
        call,
        `sent a source observation of the wrong shape: ${describeIssues(o.error)}`,
      );
    const { relationship, primaryCp, cpInProgress, pendingWrites, relationshipPath } = o.data;
    this.seen.get(node)!.primaryCp = primaryCp;
    const path = this.pathSinceObserve.get(node) ?? [];
    for (const state of relationshipPath?.length ? relationshipPath : [relationship])
      if (path[path.length - 1] !== state) path.push(state);
    this.pathSinceObserve.set(node, path);
    this.sourceObs.set(node, {
      up: true,
      relationship,
      primaryCp,
      mirrorCp: 0,
      cpInProgress,
      pendingWrites,
      ...(relationshipPath ? { relationshipPath } : {}),
    });
  }

  /** One request and its reply, serving the node's media requests meanwhile. */
  private call(node: NodeId, type: RequestType, args: Record<string, unknown>): Reply {
    const p = this.procs.get(node);
    if (!p) throw new RangeError(node === DESTINATION ? 'the destination is down' : `source ${node} is down`);
    const id = this.nextId++;
    const failed = this.failedDisks(node);
    const v3 = p.protocol >= 3 && type !== 'init';
    const cutAt = v3 ? this.media[node]!.power.cutInWrites : null;
    if (v3) {
      const signature = this.mediaSignature(node);
      if (signature !== p.mediaSignature) p.mediaEpoch++;
      p.mediaSignature = signature;
    }
    this.send(node, p, {
      type,
      id,
      ...(failed.length ? { failed } : {}),
      ...(cutAt !== null ? { cutAt } : {}),
      ...(v3 ? { mediaEpoch: p.mediaEpoch } : {}),
      ...args,
    });
    let powerLost = false;
    for (;;) {
      const got = this.pump.nextLine(p.key, this.launch.hangTimeoutMs);
      if (got.kind === 'timeout')
        throw this.misbehaved(
          node,
          type,
          `stopped answering: no reply within ${this.launch.hangTimeoutMs / 1000} s`,
        );
      if (got.kind === 'spawn-error')
        throw this.misbehaved(node, type, `could not be started: ${got.message}`);
      if (got.kind === 'closed') {
        // Dying of its power cut is what a node may do instead of answering.
        if (powerLost) return this.cut(node, { type: 'reply', id });
        const how = got.signal ? `was killed by ${got.signal}` : `exited with code ${got.code}`;
        throw this.misbehaved(node, type, how);
      }
      this.transcript?.push(`${node}> ${got.line}`);
      let json: unknown;
      try {
        json = JSON.parse(got.line);
      } catch {
        throw this.misbehaved(node, type, `printed a line that is not JSON: ${clip(got.line)}`);
      }
      const m = nodeMessageSchema.safeParse(json);
      if (!m.success)
        throw this.misbehaved(
          node,
          type,
          `sent a malformed message (${describeIssues(m.error)}): ${clip(got.line)}`,
        );
      const msg = m.data;
      if (msg.type === 'media') {
        const results = this.perform(node, type, msg.ops);
        if (results.some((r) => !r.ok && r.error === 'power-lost')) powerLost = true;
        this.send(node, p, { type: 'media-result', results });
        continue;
      }
      if (msg.id !== id)
        throw this.misbehaved(node, type, `answered request ${msg.id}; the request waiting is ${id}`);
      // The node threw: as an in-process target that throws (the world names the call and the node).
      if (msg.type === 'error') throw new Error(msg.message);
      if (powerLost || msg.powerLost) return this.cut(node, msg);
      this.collect(node, type, msg);
      // init's reply is judged once its version is known (init below).
      if (type !== 'init') this.afterReply(node, type, msg);
      return msg;
    }
  }

  /** What a reply shows of the node's console; protocol 2 requires it after every request that may change it. */
  private afterReply(node: NodeId, type: RequestType, r: Reply): void {
    const version = this.procs.get(node)!.protocol;
    if (r.observation === undefined) {
      if (version >= 2 && CHANGES_STATE.has(type))
        throw this.misbehaved(node, type, `answered ${type} without \`observation\` (protocol ${version})`);
      return;
    }
    this.remember(node, r, type);
  }

  /** The request met a power cut: effects produced before it stand, then PowerLoss ends the call. */
  private cut(node: NodeId, r: Reply): never {
    this.collect(node, 'power cut', r);
    this.remember(node, r, 'power cut');
    throw new PowerLoss(this.media[node]!.power.writes);
  }

  private send(node: NodeId, p: NodeProcess, message: Record<string, unknown>): void {
    const line = JSON.stringify(message);
    this.transcript?.push(`${node}< ${line}`);
    // A node that does not read its request within the hang timeout has stopped answering.
    this.pump.write(p.key, line, this.launch.hangTimeoutMs);
  }

  private collect(node: NodeId, call: string, r: Reply): void {
    for (const e of r.effects ?? []) {
      if (e.kind === 'ack') {
        this.effects.push({
          kind: 'ack',
          node,
          writeId: e.writeId,
          ok: e.ok,
          ...(e.error !== undefined ? { error: e.error } : {}),
        });
        continue;
      }
      if (!this.nodes.includes(e.to) || e.to === node)
        throw this.misbehaved(node, call, `sent a message to '${e.to}', not another node of this world`);
      this.effects.push({ kind: 'send', from: node, to: e.to, bytes: fromBase64(e.bytes) });
    }
  }

  /** A media batch, in order; after a power cut nothing more is performed. */
  private perform(node: NodeId, call: string, ops: readonly MediaOp[]): MediaResult[] {
    const m = this.media[node]!;
    const results: MediaResult[] = [];
    let dead = false;
    for (const op of ops) {
      if (dead) {
        results.push({ ok: false, error: 'power-lost' });
        continue;
      }
      try {
        results.push(this.performOne(node, call, m, op));
      } catch (e) {
        if (e instanceof PowerLoss) {
          dead = true;
          results.push({ ok: false, error: 'power-lost' });
        } else if (e instanceof DiskFailed) results.push({ ok: false, error: 'disk-failed' });
        else if (e instanceof RangeError) throw this.misbehaved(node, call, `asked for ${e.message}`);
        else throw e;
      }
    }
    return results;
  }

  private performOne(node: NodeId, call: string, m: NodeMedia, op: MediaOp): MediaResult {
    if (op.op === 'nvram-read' || op.op === 'nvram-write') {
      if (!m.nvram) throw this.misbehaved(node, call, `asked for NVRAM, which a ${node} does not have`);
      if (op.op === 'nvram-read') return { ok: true, data: toBase64(m.nvram.read(op.offset, op.length)) };
      m.nvram.write(op.offset, fromBase64(op.data));
      return { ok: true };
    }
    const disk = this.disks.get(node)?.get(op.disk);
    if (!disk)
      throw this.misbehaved(node, call, `asked for disk '${op.disk}', which is not one of its disks`);
    switch (op.op) {
      case 'read': {
        const b = disk.read(op.dbn);
        return { ok: true, data: toBase64(b.data), sum: b.sum };
      }
      case 'write': {
        const data = fromBase64(op.data);
        if (data.length !== disk.blockBytes)
          throw this.misbehaved(
            node,
            call,
            `wrote ${data.length} bytes to a block of ${disk.blockBytes} on ${disk.id}`,
          );
        disk.write(op.dbn, data, op.sum);
        return { ok: true };
      }
      case 'stored':
        return { ok: true, dbns: disk.storedDbns() };
    }
  }

  /** Which disks sit in the node's slots, and how often the harness changed each behind its back. */
  private mediaSignature(node: NodeId): string {
    let out = '';
    for (const group of Object.values(this.media[node]!.groups))
      for (const d of group) out += `${d.id}:${d.changesBehindServer},`;
    return out;
  }

  private failedDisks(node: NodeId): string[] {
    const out: string[] = [];
    for (const group of Object.values(this.media[node]!.groups))
      for (const d of group) if (d.isFailed) out.push(d.id);
    return out;
  }

  private misbehaved(node: NodeId, call: string, what: string): NodeMisbehaved {
    const p = this.procs.get(node);
    const tail = p ? this.pump.stderrTail(p.key) : '';
    const lines = tail
      .split('\n')
      .filter((l) => l.length > 0)
      .slice(-STDERR_TAIL_LINES);
    // The node is in no state to go on: it goes now, not when the next world boots.
    if (p) this.pump.kill(p.key);
    this.procs.delete(node);
    return new NodeMisbehaved(this.name, node, call, what, lines);
  }

  private servingNode(source: NodeId): NodeId {
    return this.seen.get(source)?.promoted ? DESTINATION : source;
  }

  private upSource(source: NodeId): NodeId {
    if (!this.procs.has(source)) throw new RangeError(`source ${source} is down`);
    return source;
  }

  private upDestination(): NodeId {
    if (!this.procs.has(DESTINATION)) throw new RangeError('the destination is down');
    return DESTINATION;
  }

  private bytesOf(node: NodeId, type: RequestType, args: Record<string, unknown>): Uint8Array {
    const r = this.call(node, type, args);
    if (r.data === undefined) throw this.misbehaved(node, type, `answered ${type} without \`data\``);
    return fromBase64(r.data);
  }
}

function diskInfo(d: Disk) {
  return { id: d.id, blockCount: d.blockCount, blockBytes: d.blockBytes };
}

function clip(s: string): string {
  return s.length > 160 ? `${s.slice(0, 160)}...` : s;
}
