// `cpsync serve-target NAME|MODULE`: one node of an in-process conformance target, run as a process
// target (docs/process-targets.md) on stdin/stdout, so that the reference and every canary can be
// checked through the protocol and compared with their in-process runs. The node's disks and NVRAM are
// proxies whose every operation is a media request to the harness; the other nodes' media are local and
// unused (the wrapped target boots a whole world; only this node's server is ever called).

import { readSync, writeSync } from 'node:fs';
import { Disk } from './media/disk.ts';
import { assert, DiskFailed, PowerLoss } from './media/errors.ts';
import { disksFor } from './media/geometry.ts';
import { Nvram } from './media/nvram.ts';
import { Power } from './media/power.ts';
import { readCommittedImage } from './mirror_compare.ts';
import {
  type DiskInfo,
  describeIssues,
  fromBase64,
  type MediaOp,
  type MediaResult,
  mediaResultsSchema,
  type NodeMediaInfo,
  PROCESS_PROTOCOL_VERSION,
  type Request,
  replySchema,
  requestSchema,
  toBase64,
} from './process_protocol.ts';
import {
  type ConformanceTarget,
  DESTINATION,
  type Effect,
  type NodeId,
  type NodeMedia,
  type TargetInstance,
  type WorldSpec,
} from './target.ts';

/** Blocking line input on a file descriptor (a pipe from the harness). */
class LineReader {
  private buffered = '';
  private readonly chunk = Buffer.alloc(1 << 16);
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));

  constructor(private readonly fd: number) {}

  /** The next line, or null at end of input. */
  next(): string | null {
    for (;;) {
      const at = this.buffered.indexOf('\n');
      if (at >= 0) {
        const line = this.buffered.slice(0, at);
        this.buffered = this.buffered.slice(at + 1);
        return line;
      }
      let n: number;
      try {
        n = readSync(this.fd, this.chunk, 0, this.chunk.length, null);
      } catch (e) {
        // A non-blocking pipe with nothing in it yet: wait a moment and read again.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(this.nap, 0, 0, 1);
          continue;
        }
        if ((e as NodeJS.ErrnoException).code === 'EOF') return null;
        throw e;
      }
      if (n === 0) return null;
      this.buffered += this.chunk.toString('utf8', 0, n);
    }
  }
}

function writeLine(message: unknown): void {
  const text = `${JSON.stringify(message)}\n`;
  let off = 0;
  const buf = Buffer.from(text, 'utf8');
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

/**
 * How many DBNs a read miss fetches, on every disk of the group at once: the rows around the block
 * asked for (a RAID read-modify-write, a reconstruction and a scan of neighbouring VBNs read there next).
 */
const PREFETCH_ROWS = 8;

type Cached = { readonly data: Uint8Array; readonly sum: number };

/**
 * The link to the harness: media requests go out and wait for their results. Reads are cached and
 * fetched ahead in batches: within a request nothing but this node touches its media (the harness
 * fails disks and plants latent errors between requests only), and a read changes nothing on the
 * harness's side, so a block read ahead is the block the node would have read. The cache lasts one
 * request, or (protocol 3) as long as the harness's `mediaEpoch` says it changed nothing.
 * Writes a power cut cannot reach are deferred (protocol 3): with no cut armed, or before the write
 * `cutAt` names, they wait in order and go out with the next batch (a read the cache misses, the write
 * the cut falls on) or before the reply. The cut write is sent with them, so a power cut interrupts the
 * wrapped target at the very write it interrupts in process (its effects and console are then what they
 * are there). A version 2 harness sends no `cutAt`: then each write goes out as it is made.
 */
class MediaLink {
  /** Ids of the node's disks that the harness says are failed (sent with every request). */
  failed = new Set<string>();
  /** The node's RAID groups as the harness numbers them (replace-disk swaps a member). */
  readonly groups = new Map<string, Disk[]>();
  private blocks = new Map<string, Map<number, Cached>>();
  private stored = new Map<string, Set<number>>();
  private nvram: Uint8Array | null = null;
  /** Writes made and not yet sent, in order. */
  private deferred: MediaOp[] = [];
  /** How many more writes of this request may be deferred: none below protocol 3. */
  private deferrable = 0;
  /** The `mediaEpoch` the caches are good for. */
  private epoch: number | undefined = undefined;

  constructor(private readonly input: LineReader) {}

  /**
   * A new request: what the harness may have changed since (latent errors, failures) is re-read, unless
   * its `mediaEpoch` (protocol 3) says nothing was changed behind this node's back.
   */
  beginRequest(failed: readonly string[], cutAt: number | undefined, version: number, epoch?: number): void {
    assert(this.deferred.length === 0, 'deferred writes are sent before each reply');
    this.failed = new Set(failed);
    if (version < 3 || epoch === undefined || epoch !== this.epoch) {
      this.blocks = new Map();
      this.stored = new Map();
      this.nvram = null;
    }
    this.epoch = version < 3 ? undefined : epoch;
    // Every write before the one the cut falls on lands whole: those may wait.
    this.deferrable = version < 3 ? 0 : cutAt === undefined ? Number.POSITIVE_INFINITY : cutAt - 1;
  }

  /** Sends the deferred writes: before a reply, whose effects and console follow from them. */
  flush(): void {
    if (this.deferred.length > 0) this.batch([]);
  }

  /** `ops`, after the deferred writes, in one round trip: the results of `ops`. */
  batch(ops: MediaOp[]): MediaResult[] {
    const all = this.deferred.length > 0 ? [...this.deferred, ...ops] : ops;
    const skipped = this.deferred.length;
    this.deferred = [];
    writeLine({ type: 'media', ops: all });
    const line = this.input.next();
    if (line === null) process.exit(0);
    const m = mediaResultsSchema.safeParse(JSON.parse(line));
    if (!m.success) fatal(`expected a media-result: ${describeIssues(m.error)}`);
    if (m.data.results.length !== all.length)
      fatal(`a media-result of ${m.data.results.length} results for ${all.length} ops`);
    // The wrapped target went on past a deferred write; had it failed, its run would differ from one in
    // process. cutAt says none can: the harness broke its word.
    for (const r of m.data.results.slice(0, skipped))
      if (!r.ok) fatal(`a deferred write failed (${r.error}), though cutAt said none could`);
    return m.data.results.slice(skipped);
  }

  read(disk: RemoteDisk, dbn: number): Cached {
    const hit = this.blocks.get(disk.id)?.get(dbn);
    if (hit) return hit;
    const group = this.groupOf(disk);
    const first = dbn - (dbn % PREFETCH_ROWS);
    const wanted: { disk: RemoteDisk; dbn: number }[] = [{ disk, dbn }];
    for (const d of group)
      for (let at = first; at < Math.min(first + PREFETCH_ROWS, d.blockCount); at++)
        if ((d !== disk || at !== dbn) && !this.failed.has(d.id) && !this.blocks.get(d.id)?.has(at))
          wanted.push({ disk: d, dbn: at });
    const results = this.batch(wanted.map((w) => ({ op: 'read', disk: w.disk.id, dbn: w.dbn })));
    for (let i = 0; i < wanted.length; i++) {
      const r = results[i]!;
      // A block read ahead from a disk that turned out failed, or past a cut, is simply not kept.
      if (r.ok) this.keep(wanted[i]!.disk.id, wanted[i]!.dbn, fromBase64(r.data ?? ''), r.sum ?? 0);
    }
    check(results[0]!, disk.id);
    return this.blocks.get(disk.id)!.get(dbn)!;
  }

  write(disk: RemoteDisk, dbn: number, data: Uint8Array, sum: number): void {
    const op: MediaOp = { op: 'write', disk: disk.id, dbn, data: toBase64(data), sum };
    if (this.deferrable > 0) {
      this.deferrable--;
      this.deferred.push(op);
    } else {
      // The block may be torn or not land at all if this write fails: forget it first.
      this.blocks.get(disk.id)?.delete(dbn);
      check(this.batch([op])[0]!, disk.id);
    }
    this.keep(disk.id, dbn, new Uint8Array(data), sum);
    this.stored.get(disk.id)?.add(dbn);
  }

  storedDbns(disk: RemoteDisk): number[] {
    if (!this.stored.has(disk.id)) {
      // Every live disk of the group in one batch: a rebuild or scan asks each in turn.
      const ask = this.groupOf(disk).filter((d) => d === disk || !this.failed.has(d.id));
      const results = this.batch(ask.map((d) => ({ op: 'stored', disk: d.id })));
      ask.forEach((d, i) => {
        const r = results[i]!;
        if (r.ok) this.stored.set(d.id, new Set(r.dbns ?? []));
      });
      check(results[ask.indexOf(disk)]!, disk.id);
    }
    return [...this.stored.get(disk.id)!].sort((a, b) => a - b);
  }

  nvramRead(bytes: number, offset: number, length: number): Uint8Array {
    // The whole NVRAM in one op: recovery scans it entry by entry.
    this.nvram ??= fromBase64(
      check(this.batch([{ op: 'nvram-read', offset: 0, length: bytes }])[0]!, 'nvram').data ?? '',
    );
    return this.nvram.slice(offset, offset + length);
  }

  nvramWrite(offset: number, data: Uint8Array): void {
    if (this.deferrable > 0) {
      this.deferrable--;
      this.deferred.push({ op: 'nvram-write', offset, data: toBase64(data) });
      this.nvram?.set(data, offset);
      return;
    }
    // Torn or not, a failed write ends the node: the cache only ever holds what landed.
    const cached = this.nvram;
    this.nvram = null;
    check(this.batch([{ op: 'nvram-write', offset, data: toBase64(data) }])[0]!, 'nvram');
    cached?.set(data, offset);
    this.nvram = cached;
  }

  private keep(disk: string, dbn: number, data: Uint8Array, sum: number): void {
    const m = this.blocks.get(disk) ?? new Map<number, Cached>();
    this.blocks.set(disk, m);
    m.set(dbn, { data, sum });
  }

  private groupOf(disk: RemoteDisk): readonly RemoteDisk[] {
    // Every member is a RemoteDisk of this link (remoteMedia and replace-disk put only those there).
    for (const g of this.groups.values()) if (g.includes(disk)) return g as RemoteDisk[];
    return [disk];
  }
}

const SELF_CHECK = process.env.CPSYNC_SERVE_CHECK === '1';

/** The requests whose reply carries the node's console in protocol 2 (docs/process-targets.md). */
const CHANGES_STATE: ReadonlySet<Request['type']> = new Set([
  'init',
  'client-write',
  'client-read',
  'receive',
  'tick',
  'failover',
  'replace-disk',
  'scrub',
]);

function fatal(why: string): never {
  process.stderr.write(`serve-target: ${why}\n`);
  process.exit(2);
}

function check(r: MediaResult, disk: string): MediaResult & { ok: true } {
  if (r.ok) return r;
  if (r.error === 'power-lost') throw new PowerLoss(0);
  throw new DiskFailed(disk);
}

/** A disk of the node: every operation is a media request to the harness, which holds the real one. */
class RemoteDisk extends Disk {
  constructor(
    info: DiskInfo,
    private readonly link: MediaLink,
  ) {
    super({ id: info.id, blockCount: info.blockCount, blockBytes: info.blockBytes, power: new Power() });
  }

  override get isFailed(): boolean {
    return this.link.failed.has(this.id);
  }

  override get blocksStored(): number {
    return this.storedDbns().length;
  }

  override storedDbns(): number[] {
    if (this.isFailed) throw new DiskFailed(this.id);
    return this.link.storedDbns(this);
  }

  override read(dbn: number) {
    this.range(dbn);
    return this.link.read(this, dbn);
  }

  override write(dbn: number, data: Uint8Array, sum: number): void {
    this.range(dbn);
    if (data.length !== this.blockBytes)
      throw new RangeError(`disk ${this.id}: block of ${data.length} bytes, expected ${this.blockBytes}`);
    this.link.write(this, dbn, data, sum >>> 0);
  }

  private range(dbn: number): void {
    if (this.isFailed) throw new DiskFailed(this.id);
    if (!Number.isInteger(dbn) || dbn < 0 || dbn >= this.blockCount)
      throw new RangeError(`disk ${this.id}: no block ${dbn}`);
  }
}

class RemoteNvram extends Nvram {
  constructor(
    bytes: number,
    private readonly link: MediaLink,
  ) {
    super(bytes, new Power());
  }

  override read(offset: number, length: number): Uint8Array {
    this.range(offset, length);
    return this.link.nvramRead(this.bytes, offset, length);
  }

  override write(offset: number, data: Uint8Array): void {
    this.range(offset, data.length);
    this.link.nvramWrite(offset, data);
  }

  private range(offset: number, length: number): void {
    if (!Number.isInteger(offset) || offset < 0 || length < 0 || offset + length > this.bytes)
      throw new RangeError(`NVRAM access [${offset}, ${offset + length}) outside [0, ${this.bytes})`);
  }
}

/** Throwaway media for the nodes this process does not run (and for a recovering node's first boot). */
function localMedia(spec: WorldSpec): Record<NodeId, NodeMedia> {
  const media: Record<NodeId, NodeMedia> = {};
  const dstPower = new Power();
  const dstGroups: Record<string, Disk[]> = {};
  const disks = (prefix: string, g: WorldSpec['sources'][number]['primary'], power: Power) =>
    Array.from(
      { length: disksFor(g) },
      (_, i) =>
        new Disk({ id: `${prefix}.d${i}`, blockCount: g.blocksPerDisk, blockBytes: g.blockBytes, power }),
    );
  for (const s of spec.sources) {
    const power = new Power();
    media[s.id] = {
      power,
      nvram: new Nvram(s.nvramBytes, power),
      groups: { primary: disks(`${s.id}.primary`, s.primary, power) },
    };
    dstGroups[`mirror:${s.id}`] = disks(`${DESTINATION}.mirror-${s.id}`, s.mirror, dstPower);
    dstGroups[`log:${s.id}`] = disks(`${DESTINATION}.log-${s.id}`, s.logFile, dstPower);
  }
  media[DESTINATION] = { power: dstPower, groups: dstGroups };
  return media;
}

function remoteMedia(info: NodeMediaInfo, link: MediaLink): NodeMedia {
  const groups: Record<string, Disk[]> = {};
  link.groups.clear();
  for (const [g, ds] of Object.entries(info.groups)) {
    const disks = ds.map((d) => new RemoteDisk(d, link));
    groups[g] = disks;
    // The same array: replace-disk puts the spare in it, and read-ahead then covers the spare.
    link.groups.set(g, disks);
  }
  return {
    power: new Power(),
    ...(info.nvramBytes !== undefined ? { nvram: new RemoteNvram(info.nvramBytes, link) } : {}),
    groups,
  };
}

interface Node {
  readonly id: NodeId;
  readonly spec: WorldSpec;
  readonly media: Record<NodeId, NodeMedia>;
  readonly instance: TargetInstance;
  readonly link: MediaLink;
}

/** Speaks the protocol on stdin/stdout for one node of `target` until the harness closes stdin. */
export function serveTarget(target: ConformanceTarget): void {
  const input = new LineReader(0);
  const link = new MediaLink(input);
  let node: Node | null = null;
  // The version this node speaks: the harness's, up to ours.
  let version = PROCESS_PROTOCOL_VERSION;
  for (;;) {
    const line = input.next();
    if (line === null) return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      fatal(`the harness sent a line that is not JSON: ${line.slice(0, 120)}`);
    }
    const parsed = requestSchema.safeParse(json);
    if (!parsed.success) fatal(`the harness sent a malformed request: ${describeIssues(parsed.error)}`);
    const req = parsed.data;
    link.beginRequest(req.failed ?? [], req.cutAt, req.type === 'init' ? 0 : version, req.mediaEpoch);
    let reply: Record<string, unknown>;
    try {
      if (req.type === 'init') {
        node = boot(target, req, link);
        const describes = typeof node.instance.describeMessage === 'function';
        version = Math.min(req.protocol, PROCESS_PROTOCOL_VERSION);
        const scrubs = version >= 2 && typeof scrubOf(node.instance) === 'function';
        reply = { ready: { protocol: version, name: target.name, describes, ...(scrubs ? { scrubs } : {}) } };
      } else {
        if (!node) fatal(`the first request must be init, not ${req.type}`);
        reply = answer(node, req);
      }
      link.flush();
      reply = { ...reply, effects: node ? effectsOf(node) : [] };
      // Protocol 2: the console after every request that may change it, so the harness need not ask.
      if (node && version >= 2 && CHANGES_STATE.has(req.type)) reply.observation = observationOf(node);
    } catch (e) {
      if (e instanceof PowerLoss && node) {
        // The node is dead: what it produced before the cut, and what its console showed then.
        reply = { powerLost: true, effects: effectsOf(node), observation: observationOf(node) };
      } else {
        // What the node wrote before it threw landed, in process too.
        link.flush();
        writeLine({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
        continue;
      }
    }
    const out = { type: 'reply', id: req.id, ...reply };
    // The harness checks every reply against the schema; checking it here too (CPSYNC_SERVE_CHECK=1,
    // as the protocol tests run it) names this side as the one at fault, at the cost of a second parse.
    if (SELF_CHECK) {
      const ok = replySchema.safeParse(out);
      if (!ok.success) fatal(`about to send a malformed reply: ${describeIssues(ok.error)}`);
    }
    writeLine(out);
  }
}

function boot(target: ConformanceTarget, req: Extract<Request, { type: 'init' }>, link: MediaLink): Node {
  const spec = req.spec as WorldSpec;
  const media = localMedia(spec);
  const remote = remoteMedia(req.media, link);
  if (req.start === 'format') {
    media[req.node] = remote;
    const instance = target.boot(spec, media);
    const n = { id: req.node, spec, media, instance, link };
    instance.drainEffects(); // Only this node's effects of the boot count: others' never leave.
    return n;
  }
  // Recover: a world booted on throwaway media, this node crashed, then restarted on the real ones.
  const instance = target.boot(spec, media);
  instance.drainEffects();
  instance.crash(req.node);
  media[req.node] = remote;
  const n = { id: req.node, spec, media, instance, link };
  instance.restart(req.node);
  return n;
}

/** The wrapped target's optional scrub (rule D3). */
function scrubOf(i: TargetInstance): ((node: NodeId) => void) | undefined {
  return (i as { scrub?: (node: NodeId) => void }).scrub;
}

/** The node's own effects, as the protocol carries them. */
function effectsOf(n: Node): unknown[] {
  const out: unknown[] = [];
  for (const e of n.instance.drainEffects() as Effect[]) {
    if (e.kind === 'send') {
      if (e.from === n.id) out.push({ kind: 'send', to: e.to, bytes: toBase64(e.bytes) });
    } else if (e.node === n.id)
      out.push({
        kind: 'ack',
        writeId: e.writeId,
        ok: e.ok,
        ...(e.error !== undefined ? { error: e.error } : {}),
      });
  }
  return out;
}

function observationOf(n: Node): unknown {
  const obs = n.instance.observe();
  if (n.id === DESTINATION) {
    const mirrors: Record<string, { mirrorCp: number; promoted: boolean }> = {};
    for (const [id, s] of Object.entries(obs.sources))
      mirrors[id] = { mirrorCp: s.mirrorCp, promoted: s.relationship === 'failed-over' };
    return { mirrors };
  }
  const s = obs.sources[n.id]!;
  return {
    relationship: s.relationship,
    primaryCp: s.primaryCp,
    cpInProgress: s.cpInProgress,
    pendingWrites: s.pendingWrites,
    ...(s.relationshipPath?.length ? { relationshipPath: [...s.relationshipPath] } : {}),
  };
}

function answer(n: Node, req: Request): Record<string, unknown> {
  const i = n.instance;
  switch (req.type) {
    case 'init':
      throw new Error('init twice');
    case 'client-write':
      i.clientWrite(req.source, { writeId: req.writeId, lba: req.lba, data: fromBase64(req.data) });
      return {};
    case 'client-read': {
      const r = i.clientRead(req.source, req.lba);
      return { read: r.ok ? { ok: true, data: toBase64(r.data) } : { ok: false, error: r.error } };
    }
    case 'receive':
      i.receive(n.id, req.from, fromBase64(req.bytes));
      return {};
    case 'tick':
      for (let t = 0; t < req.ticks; t++) i.tick(n.id);
      return {};
    case 'failover':
      i.failover(req.source);
      return {};
    case 'replace-disk': {
      const spare = new RemoteDisk(req.disk, n.link);
      n.media[n.id]!.groups[req.group]![req.index] = spare;
      i.replaceDisk(n.id, req.group, req.index, spare);
      return {};
    }
    case 'scrub':
      scrubOf(i)?.call(i, n.id);
      return {};
    case 'observe':
      return { observation: observationOf(n) };
    case 'read-committed':
      return {
        data: toBase64(
          req.side === 'primary'
            ? i.readPrimaryCommitted(req.source, req.lba)
            : i.readMirrorCommitted(req.source, req.lba),
        ),
      };
    case 'read-image': {
      const lbaCount = n.spec.sources.find((s) => s.id === req.source)?.lbaCount;
      if (lbaCount === undefined) throw new RangeError(`no source ${req.source}`);
      return { blocks: readCommittedImage(i, req.source, req.side, lbaCount).map(toBase64) };
    }
    case 'live-vbns':
      return { vbns: i.liveVbns(req.source, req.side) };
    case 'read-vbn':
      return { data: toBase64(i.readVbn(req.source, req.side, req.vbn)) };
    case 'read-vbns':
      return {
        blocks: (i.readVbns
          ? i.readVbns(req.source, req.side, req.vbns)
          : req.vbns.map((vbn) => i.readVbn(req.source, req.side, vbn))
        ).map(toBase64),
      };
    case 'log-file':
      return {
        records: i.logFile(req.source).map((r) => ({ seq: r.seq, lba: r.lba, data: toBase64(r.data) })),
      };
    case 'describe': {
      const d = i.describeMessage?.(fromBase64(req.bytes), n.id) ?? null;
      return {
        description: d ? { kind: d.kind, text: d.text, ...(d.resync ? { resync: true } : {}) } : null,
      };
    }
  }
}
