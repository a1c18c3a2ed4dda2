// Tests of the wire encoding: every kind round-trips, and every truncation and single-byte corruption
// of a frame is rejected as a WireError (exhaustively for one small message of each kind, then at random).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum } from '../harness/media/checksum.ts';
import { InvariantViolation } from '../harness/media/errors.ts';
import {
  decodeMessage,
  describeMessage,
  encodeMessage,
  MESSAGE_KINDS,
  type Message,
  WireError,
  type WireErrorReason,
} from './wire.ts';

const counter = fc.maxSafeNat();
const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const block = fc.uint8Array({ maxLength: 40 });
// Graphemes, not just ASCII: multi-byte UTF-8 must round-trip too.
const source = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 });

const arbitraries: { [K in Message['kind']]: fc.Arbitrary<Extract<Message, { kind: K }>> } = {
  'log-entry': fc.record({
    kind: fc.constant('log-entry'),
    source,
    seq,
    lba: counter,
    data: block,
    entrySum: u32,
  }),
  'log-ack': fc.record({ kind: fc.constant('log-ack'), source, seq }),
  'cp-sync': fc.record({
    kind: fc.constant('cp-sync'),
    source,
    cpNumber: counter,
    coveredSeq: counter,
    updates: fc.array(fc.record({ vbn: counter, data: block }), { maxLength: 5 }),
    resync: fc.boolean(),
    baseCp: counter,
  }),
  'cp-confirm': fc.record({ kind: fc.constant('cp-confirm'), source, cpNumber: counter }),
  hello: fc.record({ kind: fc.constant('hello'), source, lastCommittedCp: counter, helloSeq: counter }),
  'hello-reply': fc.record({
    kind: fc.constant('hello-reply'),
    source,
    lastCommittedCp: counter,
    logHighSeq: counter,
    helloCp: counter,
    helloSeq: counter,
  }),
  reject: fc.record({
    kind: fc.constant('reject'),
    source,
    refused: fc.constantFrom('seq', 'cp'),
    number: counter,
    permanent: fc.boolean(),
    reason: fc.string({ unit: 'grapheme', maxLength: 20 }),
  }),
};

const anyMessage: fc.Arbitrary<Message> = fc.oneof(...Object.values(arbitraries));

/** One small message of each kind, for the exhaustive corruption and truncation checks. */
const samples: readonly Message[] = [
  {
    kind: 'log-entry',
    source: 'src0',
    seq: 7,
    lba: 3,
    data: Uint8Array.of(1, 2, 3, 4, 5),
    entrySum: 0xdeadbeef,
  },
  { kind: 'log-ack', source: 'src0', seq: 7 },
  {
    kind: 'cp-sync',
    source: 'src1',
    cpNumber: 4,
    coveredSeq: 17,
    updates: [
      { vbn: 9, data: Uint8Array.of(9, 9, 9) },
      { vbn: 2 ** 40, data: Uint8Array.of(0xff) },
    ],
    resync: true,
    baseCp: 3,
  },
  { kind: 'cp-confirm', source: 'src1', cpNumber: 4 },
  { kind: 'hello', source: 'src0', lastCommittedCp: 3, helloSeq: 2 },
  { kind: 'hello-reply', source: 'src0', lastCommittedCp: 3, logHighSeq: 21, helloCp: 4, helloSeq: 2 },
  { kind: 'reject', source: 'src0', refused: 'cp', number: 5, permanent: true, reason: 'promoted' },
];

/** A frame built by hand from the layout in wire.ts, independently of its encoder. */
function frame(kindCode: number, payload: readonly number[], version = 1): Uint8Array {
  const end = 12 + payload.length;
  const bytes = new Uint8Array(end + 4);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0x57535043, true);
  view.setUint16(4, version, true);
  view.setUint16(6, kindCode, true);
  view.setUint32(8, payload.length, true);
  bytes.set(payload, 12);
  view.setUint32(end, checksum(bytes.subarray(0, end)), true);
  return bytes;
}

/** The payload prefix of source 'src0': u16 length, then UTF-8. */
const SRC0 = [4, 0, 0x73, 0x72, 0x63, 0x30];
const u64 = (n: number): number[] => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return [...b];
};

function expectRejected(bytes: Uint8Array, reason?: WireErrorReason): WireError {
  const result = decodeMessage(bytes);
  expect(result).toBeInstanceOf(WireError);
  const error = result as WireError;
  if (reason !== undefined) expect(error.reason).toBe(reason);
  return error;
}

describe('round trip', () => {
  it('covers every kind with the samples', () => {
    expect(new Set(samples.map((m) => m.kind))).toEqual(new Set(MESSAGE_KINDS));
    for (const m of samples) expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  for (const kind of MESSAGE_KINDS) {
    it(`decode(encode(m)) equals m for random ${kind} messages`, () => {
      const arbitrary = arbitraries[kind] as fc.Arbitrary<Message>;
      fc.assert(
        fc.property(arbitrary, (m) => {
          expect(decodeMessage(encodeMessage(m))).toEqual(m);
        }),
        { numRuns: 200, seed: 4301 },
      );
    });
  }

  it('decodes a frame that starts at an unaligned offset of a larger buffer', () => {
    const bytes = encodeMessage(samples[0]!);
    const host = new Uint8Array(bytes.length + 3);
    host.set(bytes, 3);
    expect(decodeMessage(host.subarray(3))).toEqual(samples[0]);
  });

  it('carries 4 KiB blocks verbatim, and the decoded block does not alias the frame', () => {
    const data = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff);
    const m: Message = {
      kind: 'cp-sync',
      source: 'src0',
      cpNumber: 1,
      coveredSeq: 2,
      updates: [{ vbn: 5, data }],
      resync: false,
      baseCp: 3,
    };
    const bytes = encodeMessage(m);
    expect(bytes.length).toBe(16 + 6 + 8 + 8 + 1 + 8 + 4 + 8 + 4 + 4096);
    const decoded = decodeMessage(bytes);
    bytes.fill(0);
    expect(decoded).toEqual(m);
  });
});

describe('the frame layout', () => {
  it('matches a hand-built frame byte for byte', () => {
    expect(encodeMessage({ kind: 'log-ack', source: 'src0', seq: 5 })).toEqual(
      frame(2, [...SRC0, ...u64(5)]),
    );
    expect(
      encodeMessage({
        kind: 'hello-reply',
        source: 'src0',
        lastCommittedCp: 3,
        logHighSeq: 2 ** 33,
        helloCp: 4,
        helloSeq: 7,
      }),
    ).toEqual(frame(6, [...SRC0, ...u64(3), ...u64(2 ** 33), ...u64(4), ...u64(7)]));
  });
});

describe('rejection', () => {
  it('rejects every single-byte corruption of a small message of each kind (exhaustive)', () => {
    let checked = 0;
    for (const m of samples) {
      const bytes = encodeMessage(m);
      for (let i = 0; i < bytes.length; i++) {
        for (let mask = 1; mask <= 0xff; mask++) {
          const corrupt = bytes.slice();
          corrupt[i]! ^= mask;
          const result = decodeMessage(corrupt);
          if (!(result instanceof WireError))
            expect.fail(`${describeMessage(m)}: byte ${i} ^ 0x${mask.toString(16)} was accepted`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(7 * 20 * 255);
  });

  it('rejects every truncation, and a trailing byte, of a small message of each kind (exhaustive)', () => {
    for (const m of samples) {
      const bytes = encodeMessage(m);
      for (let n = 0; n < bytes.length; n++) expectRejected(bytes.subarray(0, n), 'truncated');
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expectRejected(longer, 'bad-length');
    }
  });

  it('rejects a random single-byte corruption of a random message', () => {
    fc.assert(
      fc.property(anyMessage, fc.nat(), fc.integer({ min: 1, max: 0xff }), (m, at, mask) => {
        const bytes = encodeMessage(m);
        bytes[at % bytes.length]! ^= mask;
        expectRejected(bytes);
      }),
      { numRuns: 500, seed: 4302 },
    );
  });

  it('rejects a random truncation of a random message', () => {
    fc.assert(
      fc.property(anyMessage, fc.nat(), (m, at) => {
        const bytes = encodeMessage(m);
        expectRejected(bytes.subarray(0, at % bytes.length), 'truncated');
      }),
      { numRuns: 500, seed: 4303 },
    );
  });

  it('rejects an unknown kind with a clear error, even when its checksum is right', () => {
    const error = expectRejected(frame(99, [...SRC0, ...u64(1)]), 'unknown-kind');
    expect(error.message).toBe('wire: unknown-kind: kind code 99 is not a message kind');
    expectRejected(frame(0, SRC0), 'unknown-kind');
  });

  it('rejects another version and another magic', () => {
    expectRejected(frame(2, [...SRC0, ...u64(5)], 2), 'bad-version');
    const bytes = frame(2, [...SRC0, ...u64(5)]);
    bytes.set([0x43, 0x50, 0x53, 0x58], 0);
    expectRejected(bytes, 'bad-magic');
  });

  it('rejects a well-checksummed frame whose payload does not parse', () => {
    const cases: [number, number[], string][] = [
      [2, [...SRC0, ...u64(5), 0], '1 bytes left after the log-ack payload'],
      [2, [...SRC0, ...u64(0)], 'seq 0'],
      [2, [...SRC0, 1, 2, 3], 'overruns the payload end'],
      [4, [...SRC0, 0, 0, 0, 0, 0, 0, 0x20, 0], 'exceeds 2^53'],
      [5, [0, 0, ...u64(1)], 'empty source id'],
      [5, [2, 0, 0xc3, 0x28, ...u64(1)], 'invalid UTF-8'],
      [7, [...SRC0, 3, ...u64(1), 0, 0, 0], 'refused code 3'],
      [3, [...SRC0, ...u64(1), ...u64(1), 2, 0, 0, 0, 0], 'boolean byte 2'],
      [3, [...SRC0, ...u64(1), ...u64(1), 0, ...u64(0), 0xff, 0xff, 0xff, 0xff], 'updates cannot fit'],
      [1, [...SRC0, ...u64(1), ...u64(0), 0, 0, 0, 0, 9, 0, 0, 0, 1, 2], 'overruns the payload end'],
    ];
    for (const [code, payload, detail] of cases) {
      const error = expectRejected(frame(code, payload), 'bad-payload');
      expect(error.message).toContain(detail);
    }
  });

  it('refuses to encode a message that breaks the format (a bug in the sender)', () => {
    expect(() => encodeMessage({ kind: 'log-ack', source: 'src0', seq: 0 })).toThrow(InvariantViolation);
    expect(() => encodeMessage({ kind: 'hello', source: 'src0', lastCommittedCp: 1.5, helloSeq: 1 })).toThrow(
      InvariantViolation,
    );
    expect(() =>
      encodeMessage({ kind: 'hello', source: 'src0', lastCommittedCp: 2 ** 53, helloSeq: 1 }),
    ).toThrow(InvariantViolation);
    expect(() => encodeMessage({ kind: 'hello', source: '', lastCommittedCp: 1, helloSeq: 1 })).toThrow(
      InvariantViolation,
    );
  });
});

describe('describeMessage', () => {
  it('gives one short line per message, without block bytes', () => {
    const data = new Uint8Array(4096).fill(0xab);
    const updates = Array.from({ length: 12 }, (_, vbn) => ({ vbn, data }));
    expect(
      describeMessage({
        kind: 'cp-sync',
        source: 'src0',
        cpNumber: 4,
        coveredSeq: 17,
        updates,
        resync: false,
        baseCp: 3,
      }),
    ).toBe('cp-sync src0 cp=4 base=3 covered=17 updates=12');
    expect(describeMessage({ kind: 'log-entry', source: 'src0', seq: 3, lba: 9, data, entrySum: 0xab })).toBe(
      'log-entry src0 seq=3 lba=9 bytes=4096 sum=0x000000ab',
    );
    expect(
      describeMessage({
        kind: 'reject',
        source: 'src1',
        refused: 'seq',
        number: 8,
        permanent: true,
        reason: 'a\nb',
      }),
    ).toBe('reject src1 seq=8 permanent "a\\nb"');
    for (const m of samples) {
      const line = describeMessage(m);
      expect(line.startsWith(`${m.kind} ${m.source} `)).toBe(true);
      expect(line).not.toContain('\n');
      expect(line.length).toBeLessThan(80);
    }
  });
});

describe('what a rejection and a refusal say', () => {
  it('names the reason and the numbers that show it', () => {
    const error = expectRejected(new Uint8Array(15), 'truncated');
    expect(error.name).toBe('WireError');
    expect(String(error)).toBe('wire: truncated: 15 bytes, a frame has at least 16');
    expect(expectRejected(frame(2, [...SRC0, ...u64(5)], 3)).message).toBe(
      'wire: bad-version: version 3, expected 1',
    );
    const whole = frame(2, [...SRC0, ...u64(5)]);
    expect(expectRejected(whole.subarray(0, 20)).message).toBe(
      'wire: truncated: 20 bytes, the header says 30',
    );
    const longer = new Uint8Array(whole.length + 1);
    longer.set(whole);
    expect(expectRejected(longer).message).toBe('wire: bad-length: 31 bytes, the header says 30');
    const flipped = whole.slice();
    flipped[13]! ^= 1;
    const stored = new DataView(whole.buffer).getUint32(26, true);
    const computed = checksum(flipped.subarray(0, 26));
    expect(expectRejected(flipped).message).toBe(
      `wire: bad-checksum: stored 0x${stored.toString(16).padStart(8, '0')}, computed 0x${computed.toString(16).padStart(8, '0')}`,
    );
  });

  it('takes a 16-byte frame (no payload) as a frame, whose empty payload does not parse', () => {
    const error = expectRejected(frame(2, []), 'bad-payload');
    expect(error.message).toBe(
      'wire: bad-payload: log-ack: a 2-byte field at byte 12 overruns the payload end 12',
    );
  });

  it('places the bad field at its byte offset', () => {
    const counter = expectRejected(frame(4, [...SRC0, 0, 0, 0, 0, 0, 0, 0x20, 0]), 'bad-payload');
    expect(counter.message).toBe('wire: bad-payload: cp-confirm: counter at byte 18 exceeds 2^53');
    const bool = expectRejected(frame(3, [...SRC0, ...u64(1), ...u64(1), 2, 0, 0, 0, 0]), 'bad-payload');
    expect(bool.message).toBe('wire: bad-payload: cp-sync: boolean byte 2 at byte 34');
    // A corrupted update count is refused before any update is read: 13 updates need 156 bytes.
    const count = frame(3, [
      ...SRC0,
      ...u64(1),
      ...u64(1),
      0,
      ...u64(0),
      13,
      0,
      0,
      0,
      ...new Array(150).fill(0),
    ]);
    expect(expectRejected(count, 'bad-payload').message).toBe(
      'wire: bad-payload: cp-sync: 13 updates cannot fit in 150 bytes',
    );
  });

  it('refuses, by name, each field a sender gets wrong', () => {
    const entry = {
      kind: 'log-entry',
      source: 'src0',
      seq: 1,
      lba: 0,
      data: new Uint8Array(1),
      entrySum: 0,
    } as const;
    expect(() => encodeMessage({ ...entry, seq: 0 })).toThrow('wire: log seq starts at 1');
    expect(() => encodeMessage({ kind: 'log-ack', source: 'src0', seq: 0 })).toThrow(
      'wire: log seq starts at 1',
    );
    expect(() => encodeMessage({ ...entry, entrySum: 2 ** 32 })).toThrow('wire: u32 field in range');
    expect(() => encodeMessage({ ...entry, source: '' })).toThrow('wire: source id is not empty');
    expect(() => encodeMessage({ ...entry, source: 'x'.repeat(0x10000) })).toThrow(
      'wire: source fits in 65535 UTF-8 bytes',
    );
    const reject = { kind: 'reject', source: 'src0', refused: 'seq', number: 1, permanent: false } as const;
    expect(() => encodeMessage({ ...reject, reason: 'x'.repeat(0x10000) })).toThrow(
      'wire: reason fits in 65535 UTF-8 bytes',
    );
  });

  it('encodes a frame larger than twice the scratch buffer (it grows more than once)', () => {
    const data = new Uint8Array(4096).fill(7);
    const updates = Array.from({ length: 3 }, (_, vbn) => ({ vbn, data }));
    const m: Message = {
      kind: 'cp-sync',
      source: 'src0',
      cpNumber: 2,
      coveredSeq: 1,
      updates,
      resync: false,
      baseCp: 1,
    };
    const bytes = encodeMessage(m);
    expect(bytes.length).toBeGreaterThan(3 * 4096);
    expect(decodeMessage(bytes)).toEqual(m);
  });

  it('describes a resync transfer and a reject that is not permanent', () => {
    const m: Message = {
      kind: 'cp-sync',
      source: 'src0',
      cpNumber: 4,
      coveredSeq: 17,
      updates: [],
      resync: true,
      baseCp: 3,
    };
    expect(describeMessage(m)).toBe('cp-sync src0 cp=4 base=3 covered=17 updates=0 resync');
    expect(
      describeMessage({
        kind: 'reject',
        source: 'src1',
        refused: 'cp',
        number: 8,
        permanent: false,
        reason: 'x',
      }),
    ).toBe('reject src1 cp=8 "x"');
  });
});

describe('field limits, at the edge', () => {
  it('a string of exactly 65535 UTF-8 bytes fits, in a reject’s reason and in a source id', () => {
    const reason = `${'é'.repeat(0x7fff)}x`; // 2 * 32767 + 1 = 65535 bytes
    expect(new TextEncoder().encode(reason).length).toBe(0xffff);
    const m: Message = {
      kind: 'reject',
      source: 'src0',
      refused: 'seq',
      number: 3,
      permanent: false,
      reason,
    };
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
    const longSource: Message = { kind: 'log-ack', source: 's'.repeat(0xffff), seq: 1 };
    expect(decodeMessage(encodeMessage(longSource))).toEqual(longSource);
    expect(() => encodeMessage({ ...m, reason: `${reason}y` })).toThrow(
      'wire: reason fits in 65535 UTF-8 bytes',
    );
  });

  it('refuses an entry checksum that is negative or not an integer (u32 fields)', () => {
    const entry = {
      kind: 'log-entry',
      source: 'src0',
      seq: 1,
      lba: 0,
      data: new Uint8Array(1),
      entrySum: 0,
    } as const;
    for (const entrySum of [-1, 1.5, 0xffff_ffff + 1])
      expect(() => encodeMessage({ ...entry, entrySum }), `entrySum ${entrySum}`).toThrow(
        'wire: u32 field in range',
      );
    expect(decodeMessage(encodeMessage({ ...entry, entrySum: 0xffff_ffff }))).toEqual({
      ...entry,
      entrySum: 0xffff_ffff,
    });
  });

  it('refuses a counter that is negative, fractional or past 2^53, naming the rule', () => {
    for (const lastCommittedCp of [-1, -(2 ** 40), 1.5, 2 ** 53])
      expect(
        () => encodeMessage({ kind: 'hello', source: 'src0', lastCommittedCp, helloSeq: 1 }),
        `counter ${lastCommittedCp}`,
      ).toThrow('wire: counter is a non-negative safe integer');
    const largest: Message = {
      kind: 'hello',
      source: 'src0',
      lastCommittedCp: Number.MAX_SAFE_INTEGER,
      helloSeq: 0,
    };
    expect(decodeMessage(encodeMessage(largest))).toEqual(largest);
  });

  it('refuses to encode a message of a kind it has no code for (a bug in the sender)', () => {
    const unknown = { kind: 'gossip', source: 'src0' } as unknown as Message;
    expect(() => encodeMessage(unknown)).toThrow('wire: u16 field in range');
  });

  it('encodes one block far larger than the buffer has grown to so far, in one step', () => {
    // 256 KiB: more than twice any frame encoded before it, so the buffer doubles several times at once.
    const data = Uint8Array.from({ length: 1 << 18 }, (_, i) => (i * 7) & 0xff);
    const bytes = encodeMessage({ kind: 'log-entry', source: 'src0', seq: 1, lba: 2, data, entrySum: 5 });
    expect(bytes.length).toBe(16 + 6 + 8 + 8 + 4 + 4 + (1 << 18));
    const decoded = decodeMessage(bytes);
    if (decoded instanceof WireError || decoded.kind !== 'log-entry') throw new Error(String(decoded));
    expect({ ...decoded, data: null }).toEqual({
      kind: 'log-entry',
      source: 'src0',
      seq: 1,
      lba: 2,
      data: null,
      entrySum: 5,
    });
    // Compared as one buffer: an element-wise deep equal of 256 KiB takes seconds.
    expect(Buffer.from(decoded.data).equals(Buffer.from(data))).toBe(true);
    // A small frame after it is whole: nothing of the big one shows.
    expect(encodeMessage({ kind: 'log-ack', source: 'src0', seq: 9 })).toEqual(
      frame(2, [...SRC0, ...u64(9)]),
    );
  });
});

describe('strings', () => {
  it('keep a leading byte order mark: every string round-trips, U+FEFF first included', () => {
    const m: Message = {
      kind: 'reject',
      source: '\uFEFFsrc0',
      refused: 'cp',
      number: 1,
      permanent: true,
      reason: '\uFEFF',
    };
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });
});
