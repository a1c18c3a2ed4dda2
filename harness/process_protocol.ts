// The process-target protocol (docs/process-targets.md), as zod schemas: every message the harness
// sends a node program and every message a node program sends back, one JSON object per line.
// Both sides validate with these (harness/process_target.ts, harness/serve_target.ts); the JSON Schemas
// in the document are generated from them (`processProtocolJsonSchemas`), and a test keeps them equal.

import { z } from 'zod';

/**
 * The protocol version an `init` names: the newest the harness speaks. A node answers with the version
 * it speaks, any of SUPPORTED_PROTOCOL_VERSIONS; the harness then sends only that version's requests.
 * Version 2 adds `read-image` and `read-vbns` (many blocks in one request) and `scrub`, and its nodes'
 * replies carry their console (`observation`) after every request that may change it, so the harness
 * sends no `observe`; a version 1 node is read LBA by LBA and observed by `observe`, as before.
 * Version 3 adds `cutAt` to requests, so that a node may defer its media writes and send many in one
 * batch while no power cut can fall on them, and `mediaEpoch`, so that it may cache its blocks across
 * requests while the harness changed nothing behind its back.
 */
export const PROCESS_PROTOCOL_VERSION = 3;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1, 2, 3];

const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const nodeId = z.string().min(1).max(64);
/** Bytes travel as standard base64 (RFC 4648, with padding). */
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const relationship = z.enum(['in-sync', 'out-of-sync', 'resyncing', 'failed-over']);
const side = z.enum(['primary', 'mirror']);

const geometry = z.strictObject({
  level: z.enum(['raid4', 'raid_dp']),
  dataDisks: z.int().min(1).max(256),
  depthBlocks: z.int().min(1),
  blocksPerDisk: z.int().min(1),
  blockBytes: z.int().min(8),
});

const sourceSpec = z.strictObject({
  id: nodeId,
  mode: z.enum(['sync', 'strict-sync', 'semi-sync']),
  lbaCount: z.int().min(1),
  primary: geometry,
  mirror: geometry,
  logFile: geometry,
  nvramBytes: z.int().min(64),
  nvlogHalfEntries: z.int().min(1),
});

export const worldSpecSchema = z.strictObject({
  blockBytes: z.int().min(8),
  cpIntervalTicks: z.int().min(1),
  ackTimeoutTicks: z.int().min(1),
  semiSyncMaxLagEntries: z.int().min(0),
  sources: z.array(sourceSpec).min(1),
});

/** One disk the harness holds for the node: media requests name it by `id`. */
export const diskInfoSchema = z.strictObject({ id: z.string().min(1), blockCount: count, blockBytes: count });

export const nodeMediaSchema = z.strictObject({
  /** Sources only: the NVRAM's size in bytes. */
  nvramBytes: count.optional(),
  /** RAID groups by name ('primary'; 'mirror:<src>' and 'log:<src>' on 'dst'), data disks first. */
  groups: z.record(z.string(), z.array(diskInfoSchema)),
});

/** Present on every request when some of the node's disks are failed: their ids. */
const failed = z.array(z.string()).optional();
/**
 * Version 3, present when a power cut is armed on the node: it falls at the node's `cutAt`-th media
 * write (disk or NVRAM) from the start of this request, which lands whole or torn, and nothing after it
 * does. Absent, no write of this request is cut. Disks fail between requests only (`failed` names
 * them), so a write before that one cannot fail: a node may defer such writes and send them in order,
 * in one `media` batch with a later operation, as long as all are sent before its reply.
 */
const cutAt = z.int().min(1).max(Number.MAX_SAFE_INTEGER).optional();
/**
 * Version 3, on every request but `init`: a count the harness raises whenever it changed the node's
 * media behind its back since the previous request (a disk failed or replaced, a latent error
 * planted). While it stays the same, what the node read from its media, and what it wrote, is still
 * there: a node may keep a cache of its blocks across requests.
 */
const mediaEpoch = z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional();

// Harness -> node: requests (each answered by one `reply` or `error` with the same id) ...
const req = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), id: count, failed, cutAt, mediaEpoch, ...shape });

export const requestSchema = z.discriminatedUnion('type', [
  req('init', {
    protocol: z.int().min(1),
    node: nodeId,
    spec: worldSpecSchema,
    media: nodeMediaSchema,
    /** 'format': blank media, a new world; 'recover': the node restarts on media that survived a crash. */
    start: z.enum(['format', 'recover']),
  }),
  req('client-write', { source: nodeId, writeId: count, lba: count, data: base64 }),
  req('client-read', { source: nodeId, lba: count }),
  req('receive', { from: nodeId, bytes: base64 }),
  req('tick', { ticks: z.int().min(1) }),
  req('failover', { source: nodeId }),
  req('replace-disk', { group: z.string().min(1), index: count, disk: diskInfoSchema }),
  /** Version 2, only to a node whose `ready` said `scrubs`: scrub every RAID group (rule D3). */
  req('scrub', {}),
  req('observe', {}),
  req('read-committed', { source: nodeId, side, lba: count }),
  /** Version 2: the committed image of `side` for `source`, every LBA in order. */
  req('read-image', { source: nodeId, side }),
  req('live-vbns', { source: nodeId, side }),
  /** Version 2: the blocks at `vbns` of `side` for `source`, in order. */
  req('read-vbns', { source: nodeId, side, vbns: z.array(count).max(1_000_000) }),
  req('read-vbn', { source: nodeId, side, vbn: count }),
  req('log-file', { source: nodeId }),
  req('describe', { bytes: base64 }),
]);

const mediaResult = z.union([
  z.strictObject({
    ok: z.literal(true),
    /** read, nvram-read */
    data: base64.optional(),
    /** read: the checksum stored with the block */
    sum: z.int().min(0).max(0xffff_ffff).optional(),
    /** stored: the DBNs ever written, ascending */
    dbns: z.array(count).optional(),
  }),
  z.strictObject({ ok: z.literal(false), error: z.enum(['disk-failed', 'power-lost']) }),
]);

/** ... and the answer to a node's media request. */
export const mediaResultsSchema = z.strictObject({
  type: z.literal('media-result'),
  results: z.array(mediaResult),
});

/** Every message the harness writes to a node's stdin. */
export const harnessMessageSchema = z.union([requestSchema, mediaResultsSchema]);

// Node -> harness.
export const mediaOpSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('read'), disk: z.string().min(1), dbn: count }),
  z.strictObject({
    op: z.literal('write'),
    disk: z.string().min(1),
    dbn: count,
    data: base64,
    sum: z.int().min(0).max(0xffff_ffff),
  }),
  z.strictObject({ op: z.literal('stored'), disk: z.string().min(1) }),
  z.strictObject({ op: z.literal('nvram-read'), offset: count, length: count }),
  z.strictObject({ op: z.literal('nvram-write'), offset: count, data: base64 }),
]);

/** A batch of media operations, performed in order; the node waits for the `media-result`. */
export const mediaRequestSchema = z.strictObject({
  type: z.literal('media'),
  ops: z.array(mediaOpSchema).min(1).max(100_000),
});

export const effectSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('send'), to: nodeId, bytes: base64 }),
  z.strictObject({ kind: z.literal('ack'), writeId: count, ok: z.boolean(), error: z.string().optional() }),
]);

export const sourceObservationSchema = z.strictObject({
  relationship,
  primaryCp: count,
  cpInProgress: z.boolean(),
  pendingWrites: count,
  relationshipPath: z.array(relationship).optional(),
});

export const destinationObservationSchema = z.strictObject({
  mirrors: z.record(z.string(), z.strictObject({ mirrorCp: count, promoted: z.boolean() })),
});

const readResult = z.union([
  z.strictObject({ ok: z.literal(true), data: base64 }),
  z.strictObject({ ok: z.literal(false), error: z.string() }),
]);

export const replySchema = z.strictObject({
  type: z.literal('reply'),
  id: count,
  /** Effects produced by the request, in order (sends, acks). */
  effects: z.array(effectSchema).optional(),
  /** A media write of this request met a power cut: the node is dead; the harness kills it. */
  powerLost: z.literal(true).optional(),
  /** observe (and a powerLost reply: what the node's console showed at the cut). */
  observation: z.union([sourceObservationSchema, destinationObservationSchema]).optional(),
  /** init */
  ready: z
    .strictObject({
      protocol: z.int().min(1),
      name: z.string().max(200).optional(),
      /** The node answers `describe` requests. */
      describes: z.boolean().optional(),
      /** Version 2: the node answers `scrub` requests (rule D3); without it, it is never asked. */
      scrubs: z.boolean().optional(),
    })
    .optional(),
  /** client-read */
  read: readResult.optional(),
  /** read-committed, read-vbn */
  data: base64.optional(),
  /** read-image: one block per LBA of the source's volume, LBA 0 first; read-vbns: one per VBN asked */
  blocks: z.array(base64).optional(),
  /** live-vbns */
  vbns: z.array(count).optional(),
  /** log-file */
  records: z.array(z.strictObject({ seq: count, lba: count, data: base64 })).optional(),
  /** describe: null when the bytes are not a message of the node's (corrupted, truncated). */
  description: z
    .strictObject({
      kind: z.string().min(1).max(64),
      text: z.string().max(2000),
      resync: z.boolean().optional(),
    })
    .nullable()
    .optional(),
});

/** The node cannot carry out the request (a bug of its own): the run ends with its message. */
export const errorReplySchema = z.strictObject({
  type: z.literal('error'),
  id: count,
  message: z.string().max(4000),
});

/** Every message a node writes to its stdout. */
export const nodeMessageSchema = z.discriminatedUnion('type', [
  mediaRequestSchema,
  replySchema,
  errorReplySchema,
]);

export type Request = z.infer<typeof requestSchema>;
export type RequestType = Request['type'];
export type HarnessMessage = z.infer<typeof harnessMessageSchema>;
export type NodeMessage = z.infer<typeof nodeMessageSchema>;
export type Reply = z.infer<typeof replySchema>;
export type MediaOp = z.infer<typeof mediaOpSchema>;
export type MediaResult = z.infer<typeof mediaResult>;
export type ProtocolEffect = z.infer<typeof effectSchema>;
export type NodeMediaInfo = z.infer<typeof nodeMediaSchema>;
export type DiskInfo = z.infer<typeof diskInfoSchema>;
export type SourceNodeObservation = z.infer<typeof sourceObservationSchema>;
export type DestinationNodeObservation = z.infer<typeof destinationObservationSchema>;

/** A zod issue list as one line: the field path and what is wrong. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(the message)'}: ${i.message}`)
    .join('; ');
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A Uint8Array of its own (not a view into Buffer's pool): callers may use its `.buffer` whole. */
export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** The JSON Schema of every message, by its `type`, as docs/process-targets.md prints them. */
export function processProtocolJsonSchemas(): Record<string, unknown> {
  const one = (s: z.ZodType) => z.toJSONSchema(s, { target: 'draft-2020-12' });
  const out: Record<string, unknown> = {};
  for (const r of requestSchema.options) out[`${r.shape.type.value} (harness to node)`] = one(r);
  out['media-result (harness to node)'] = one(mediaResultsSchema);
  out['media (node to harness)'] = one(mediaRequestSchema);
  out['reply (node to harness)'] = one(replySchema);
  out['error (node to harness)'] = one(errorReplySchema);
  return out;
}
