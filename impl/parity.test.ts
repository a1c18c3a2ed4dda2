// Tests of the JS XOR kernels of parity.ts against a byte-by-byte XOR: every source count and length
// (unrolled loop and tail), the word views and the helpers, and xorOf on an engine without wasm.

import { afterEach, describe, expect, test, vi } from 'vitest';
import { asBytes, asWords, copyWords, isZero, wordsEqual, xorOf, xorOfJs } from './parity.ts';
import { createWasmXor, wasmXor } from './parity_wasm.ts';

/** Deterministic words from a seed (xorshift32), never all zero. */
function wordsFrom(seed: number, length: number): Uint32Array {
  let x = seed | 1;
  return Uint32Array.from({ length }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  });
}

function byteXor(blocks: readonly Uint32Array[], words: number): number[] {
  const out = new Uint8Array(words * 4);
  for (const b of blocks) {
    const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < out.length; i++) out[i]! ^= bytes[i]!;
  }
  return [...out];
}

const bytesOf = (w: Uint32Array): number[] => [...new Uint8Array(w.buffer, w.byteOffset, w.byteLength)];

describe('word views', () => {
  test('asWords of an aligned view shares its memory, word for word', () => {
    const buffer = new Uint8Array(24);
    const bytes = buffer.subarray(4, 20);
    const words = asWords(bytes);
    expect(words.length).toBe(4);
    expect(words.buffer).toBe(buffer.buffer);
    expect(words.byteOffset).toBe(4);
    bytes[0] = 0x78;
    bytes[1] = 0x56;
    bytes[2] = 0x34;
    bytes[3] = 0x12;
    expect(words[0]).toBe(0x12345678);
    words[3] = 0xffffffff;
    expect([...buffer.subarray(16, 20)]).toEqual([255, 255, 255, 255]);
    expect(buffer[20]).toBe(0);
  });

  test('asWords of an unaligned view is a copy of its bytes, sharing nothing', () => {
    for (const skew of [1, 2, 3]) {
      const buffer = Uint8Array.from({ length: 16 + skew }, (_, i) => i);
      const bytes = buffer.subarray(skew, skew + 12);
      const words = asWords(bytes);
      expect(words.length).toBe(3);
      expect(words.buffer).not.toBe(buffer.buffer);
      expect(bytesOf(words)).toEqual([...bytes]);
      words[0] = 0;
      expect(bytes[0]).toBe(skew);
    }
  });

  test('asBytes views the same memory as the words, from their offset, for their length', () => {
    const whole = new Uint32Array(6);
    const words = whole.subarray(2, 4);
    const bytes = asBytes(words);
    expect(bytes.buffer).toBe(whole.buffer);
    expect(bytes.byteOffset).toBe(8);
    expect(bytes.length).toBe(8);
    bytes[4] = 1;
    expect([...whole]).toEqual([0, 0, 0, 1, 0, 0]);
  });
});

describe('xorOfJs', () => {
  test('equals a byte-by-byte XOR for 0..13 sources of 0..11 words, whatever dst held', () => {
    for (let count = 0; count <= 13; count++)
      for (let length = 0; length <= 11; length++) {
        const sources = Array.from({ length: count }, (_, j) =>
          wordsFrom(1000 * count + 37 * length + j, length),
        );
        const dst = new Uint32Array(length).fill(0xa5a5a5a5);
        xorOfJs(dst, sources);
        expect(bytesOf(dst), `${count} sources of ${length} words`).toEqual(byteXor(sources, length));
      }
  });

  test('each source lands in every word: one source of ones among zeros shows through', () => {
    // A single nonzero source at each position k of n: a kernel that skipped or shifted it shows.
    for (let count = 1; count <= 13; count++)
      for (let k = 0; k < count; k++) {
        const length = 9;
        const sources = Array.from({ length: count }, (_, j) =>
          j === k ? Uint32Array.from({ length }, (_, i) => (i + 1) * 0x01010101) : new Uint32Array(length),
        );
        const dst = new Uint32Array(length).fill(7);
        xorOfJs(dst, sources);
        expect([...dst], `source ${k} of ${count}`).toEqual([...sources[k]!]);
      }
  });
});

describe('xorOf', () => {
  test('no sources zeroes dst, even after a call left the kernels other offsets', () => {
    const sources = [wordsFrom(1, 12), wordsFrom(2, 12), wordsFrom(3, 12)];
    const first = new Uint32Array(12);
    xorOf(first, sources);
    expect(bytesOf(first)).toEqual(byteXor(sources, 12));
    const dst = new Uint32Array(12).fill(9);
    xorOf(dst, []);
    expect([...dst]).toEqual(new Array(12).fill(0));
  });

  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  test('on an engine without WebAssembly, there are no kernels and xorOf runs the JS loops', async () => {
    vi.stubGlobal('WebAssembly', undefined);
    vi.resetModules();
    const parity = await import('./parity.ts');
    const wasm = await import('./parity_wasm.ts');
    expect(wasm.wasmXor()).toBeNull();
    expect(wasm.createWasmXor(0)).toBeNull();
    const sources = [wordsFrom(4, 10), wordsFrom(5, 10)];
    const dst = new Uint32Array(10);
    parity.xorOf(dst, sources);
    expect(bytesOf(dst)).toEqual(byteXor(sources, 10));
  });

  test('on an engine that rejects the module (no SIMD), there are no kernels: compiled once, never run', async () => {
    let validated = 0;
    const instantiated: unknown[] = [];
    vi.stubGlobal('WebAssembly', {
      validate: () => {
        validated++;
        return false;
      },
      Module: function Module() {
        instantiated.push('module');
      },
      Instance: function Instance() {
        instantiated.push('instance');
      },
    });
    vi.resetModules();
    const parity = await import('./parity.ts');
    const wasm = await import('./parity_wasm.ts');
    expect(wasm.wasmXor()).toBeNull();
    expect(wasm.wasmXor()).toBeNull();
    expect(wasm.createWasmXor(1 << 16)).toBeNull();
    expect(validated).toBe(1);
    expect(instantiated).toEqual([]);
    const sources = [wordsFrom(6, 7), wordsFrom(7, 7), wordsFrom(8, 7)];
    const dst = new Uint32Array(7);
    parity.xorOf(dst, sources);
    expect(bytesOf(dst)).toEqual(byteXor(sources, 7));
  });

  test('the shared kernels are made once and reused; createWasmXor makes a memory of its own each call', async () => {
    vi.resetModules();
    const wasm = await import('./parity_wasm.ts');
    const shared = wasm.wasmXor();
    expect(shared).not.toBeNull();
    expect(wasm.wasmXor()).toBe(shared);
    expect(createWasmXor(0)).not.toBe(createWasmXor(0));
  });
});

describe('helpers', () => {
  test('wordsEqual: same words; a difference in any word; a length that differs (prefix or not)', () => {
    expect(wordsEqual(new Uint32Array(0), new Uint32Array(0))).toBe(true);
    expect(wordsEqual(Uint32Array.of(1, 2, 3), Uint32Array.of(1, 2, 3))).toBe(true);
    expect(wordsEqual(Uint32Array.of(1, 2, 3), Uint32Array.of(1, 2, 4))).toBe(false);
    expect(wordsEqual(Uint32Array.of(0, 2, 3), Uint32Array.of(1, 2, 3))).toBe(false);
    expect(wordsEqual(Uint32Array.of(1, 2), Uint32Array.of(1, 2, 3))).toBe(false);
    expect(wordsEqual(Uint32Array.of(1, 2, 3), Uint32Array.of(1, 2))).toBe(false);
    expect(wordsEqual(new Uint32Array(0), Uint32Array.of(0))).toBe(false);
  });

  test('isZero: true for no words or all zero; false for a nonzero word anywhere', () => {
    expect(isZero(new Uint32Array(0))).toBe(true);
    expect(isZero(new Uint32Array(5))).toBe(true);
    for (let i = 0; i < 5; i++) {
      const words = new Uint32Array(5);
      words[i] = 1;
      expect(isZero(words), `word ${i}`).toBe(false);
    }
  });

  test('copyWords copies dst.length words of src (unrolled loop and tail), and nothing past them', () => {
    for (let length = 0; length <= 11; length++) {
      const src = wordsFrom(length + 50, length + 2);
      const whole = new Uint32Array(length + 1).fill(0x5a5a5a5a);
      const dst = whole.subarray(0, length);
      copyWords(dst, src);
      expect([...dst], `${length} words`).toEqual([...src.subarray(0, length)]);
      expect(whole[length]).toBe(0x5a5a5a5a);
    }
  });
});

/**
 * A word block that records the index of every read and write made through it: a kernel that walked
 * past the end of a block would otherwise go unseen (a typed array drops writes past its length and
 * reads undefined there).
 */
function recorded(words: Uint32Array): { block: Uint32Array; reads: number[]; writes: number[] } {
  const reads: number[] = [];
  const writes: number[] = [];
  const block = new Proxy(words, {
    get(target, key) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads.push(Number(key));
      return Reflect.get(target, key);
    },
    set(target, key, value) {
      if (typeof key === 'string' && /^\d+$/.test(key)) writes.push(Number(key));
      return Reflect.set(target, key, value);
    },
  });
  return { block, reads, writes };
}

describe('kernels stay within their blocks', () => {
  test('xorOfJs writes every word of dst the same number of times, one per pass, and none past its end', () => {
    for (let count = 2; count <= 13; count++)
      for (let length = 0; length <= 11; length++) {
        const sources = Array.from({ length: count }, (_, j) =>
          wordsFrom(77 * count + 5 * length + j, length),
        );
        const dst = recorded(new Uint32Array(length));
        xorOfJs(dst.block, sources);
        const what = `${count} sources of ${length} words`;
        // Passes: one kernel over the first four (or fewer) sources, then one per group of up to three.
        const passes = 1 + Math.ceil(Math.max(0, count - 4) / 3);
        const perWord = Array.from({ length }, (_, i) => dst.writes.filter((w) => w === i).length);
        expect({ what, past: dst.writes.filter((w) => w >= length) }).toEqual({ what, past: [] });
        expect({ what, perWord }).toEqual({ what, perWord: new Array(length).fill(passes) });
        expect(bytesOf(dst.block), what).toEqual(byteXor(sources, length));
      }
  });

  test('copyWords writes each word of dst once and none past its end', () => {
    for (let length = 0; length <= 11; length++) {
      const src = wordsFrom(length + 90, length + 4);
      const words = new Uint32Array(length);
      const dst = recorded(words);
      copyWords(dst.block, src);
      expect(
        [...dst.writes].sort((a, b) => a - b),
        `${length} words`,
      ).toEqual(Array.from({ length }, (_, i) => i));
      expect([...words]).toEqual([...src.subarray(0, length)]);
    }
  });

  test('wordsEqual reads no word past the blocks it compares', () => {
    for (let length = 0; length <= 5; length++) {
      const a = recorded(wordsFrom(3, length));
      const b = recorded(wordsFrom(3, length));
      expect(wordsEqual(a.block, b.block)).toBe(true);
      expect([...a.reads, ...b.reads].filter((i) => i >= length)).toEqual([]);
    }
  });
});

describe('xorOf on the shared wasm kernels', () => {
  test('xorOf runs on the shared kernels when this engine has them', () => {
    const kernels = wasmXor()!;
    const spy = vi.spyOn(kernels, 'xorOf');
    const sources = [wordsFrom(21, 8), wordsFrom(24, 8)];
    const dst = new Uint32Array(8);
    xorOf(dst, sources);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect(bytesOf(dst)).toEqual(byteXor(sources, 8));
  });

  test('no sources zeroes dst even when the shared kernels still hold the operands of their last call', () => {
    const kernels = wasmXor()!;
    const sources = [wordsFrom(31, 12), wordsFrom(34, 12), wordsFrom(37, 12)];
    expect(kernels.xorOf(new Uint32Array(12), sources)).toBe(true);
    const dst = new Uint32Array(12).fill(9);
    xorOf(dst, []);
    expect([...dst]).toEqual(new Array(12).fill(0));
  });
});
