// `cpsync serve-target NAME|MODULE`: one node of an in-process conformance target, run as a process
// target (docs/process-targets.md) on stdin/stdout, so that the reference and every canary can be
// checked through the protocol and compared with their in-process runs. The node's disks and NVRAM are
// proxies whose every operation is a media request to the harness; the other nodes' media are local and
// unused (the wrapped target boots a whole world; only this node's server is ever called).

import { readSync, writeSync } from 'node:fs';
import { Disk } from './media/disk.ts';
import { DiskFailed, PowerLoss } from './media/errors.ts';
import { disksFor } from './media/geometry.ts';
import { Nvram } from './media/nvram.ts';
import { Power } from './media/power.ts';
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

/** The link to the harness: media requests go out and wait for their results. */
class MediaLink {
  /** Ids of the node's disks that the harness says are failed (sent with every request). */
  failed = new Set<string>();

  constructor(private readonly input: LineReader) {}

  one(op: MediaOp): MediaResult {
    writeLine({ type: 'media', ops: [op] });
    const line = this.input.next();
    if (line === null) process.exit(0);
    const m = mediaResultsSchema.safeParse(JSON.parse(line));
    if (!m.success) fatal(`expected a media-result: ${describeIssues(m.error)}`);
    const r = m.data.results[0];
    if (!r) fatal('a media-result without a result');
    return r;
  }
}

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
    return check(this.link.one({ op: 'stored', disk: this.id }), this.id).dbns ?? [];
  }

  override read(dbn: number) {
    this.range(dbn);
    const r = check(this.link.one({ op: 'read', disk: this.id, dbn }), this.id);
    return { data: fromBase64(r.data ?? ''), sum: r.sum ?? 0 };
  }

  override write(dbn: number, data: Uint8Array, sum: number): void {
    this.range(dbn);
    if (data.length !== this.blockBytes)
      throw new RangeError(`disk ${this.id}: block of ${data.length} bytes, expected ${this.blockBytes}`);
    check(this.link.one({ op: 'write', disk: this.id, dbn, data: toBase64(data), sum: sum >>> 0 }), this.id);
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
    return fromBase64(check(this.link.one({ op: 'nvram-read', offset, length }), 'nvram').data ?? '');
  }

  override write(offset: number, data: Uint8Array): void {
    this.range(offset, data.length);
    check(this.link.one({ op: 'nvram-write', offset, data: toBase64(data) }), 'nvram');
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
  for (const [g, ds] of Object.entries(info.groups)) groups[g] = ds.map((d) => new RemoteDisk(d, link));
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
    link.failed = new Set(req.failed ?? []);
    let reply: Record<string, unknown>;
    try {
      if (req.type === 'init') {
        node = boot(target, req, link);
        const describes = typeof node.instance.describeMessage === 'function';
        reply = { ready: { protocol: PROCESS_PROTOCOL_VERSION, name: target.name, describes } };
      } else {
        if (!node) fatal(`the first request must be init, not ${req.type}`);
        reply = answer(node, req);
      }
      reply = { ...reply, effects: node ? effectsOf(node) : [] };
    } catch (e) {
      if (e instanceof PowerLoss && node) {
        // The node is dead: what it produced before the cut, and what its console showed then.
        reply = { powerLost: true, effects: effectsOf(node), observation: observationOf(node) };
      } else {
        writeLine({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
        continue;
      }
    }
    const out = { type: 'reply', id: req.id, ...reply };
    // What this side sends is checked as the harness checks it (a test runs both).
    const ok = replySchema.safeParse(out);
    if (!ok.success) fatal(`about to send a malformed reply: ${describeIssues(ok.error)}`);
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
    case 'live-vbns':
      return { vbns: i.liveVbns(req.source, req.side) };
    case 'read-vbn':
      return { data: toBase64(i.readVbn(req.source, req.side, req.vbn)) };
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
