// XOR kernels for parity: whole blocks as Uint32Array word views, several sources per pass. `xorOf`
// runs on the WebAssembly SIMD kernels (parity_wasm.ts) when the engine has them, else on the JS word
// loops here, which are also the oracle the wasm kernels are tested against.
// Fault model: none here (pure arithmetic on memory); callers own every buffer they pass as `dst`.

import { type WasmXor, wasmXor } from './parity_wasm.ts';

/**
 * A word view of `bytes` (whose length is a multiple of 4). Shares memory when the view can be
 * aligned, else returns an aligned copy: callers must treat the result as read-only input.
 */
export function asWords(bytes: Uint8Array): Uint32Array {
  if ((bytes.byteOffset & 3) === 0)
    return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  return new Uint32Array(bytes.slice().buffer);
}

/** The bytes of a word view, sharing its memory. */
export function asBytes(words: Uint32Array): Uint8Array {
  return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
}

// Each kernel reads every source once and writes `dst` once per pass: XORing four sources in one
// pass moves a quarter of the bytes that four `dst ^= src` passes would. Loops are unrolled by four
// words because V8 does not vectorise them: it halves the loop overhead per word (measured: ~1.5 GB/s
// plain, ~3 GB/s unrolled for a copy). Blocks are multiples of 8 bytes; the tail loops cover any length.

function set2(dst: Uint32Array, a: Uint32Array, b: Uint32Array): void {
  const n = dst.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = a[i]! ^ b[i]!;
    dst[i + 1] = a[i + 1]! ^ b[i + 1]!;
    dst[i + 2] = a[i + 2]! ^ b[i + 2]!;
    dst[i + 3] = a[i + 3]! ^ b[i + 3]!;
  }
  for (; i < n; i++) dst[i] = a[i]! ^ b[i]!;
}

function set3(dst: Uint32Array, a: Uint32Array, b: Uint32Array, c: Uint32Array): void {
  const n = dst.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = a[i]! ^ b[i]! ^ c[i]!;
    dst[i + 1] = a[i + 1]! ^ b[i + 1]! ^ c[i + 1]!;
    dst[i + 2] = a[i + 2]! ^ b[i + 2]! ^ c[i + 2]!;
    dst[i + 3] = a[i + 3]! ^ b[i + 3]! ^ c[i + 3]!;
  }
  for (; i < n; i++) dst[i] = a[i]! ^ b[i]! ^ c[i]!;
}

function set4(dst: Uint32Array, a: Uint32Array, b: Uint32Array, c: Uint32Array, d: Uint32Array): void {
  const n = dst.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = a[i]! ^ b[i]! ^ c[i]! ^ d[i]!;
    dst[i + 1] = a[i + 1]! ^ b[i + 1]! ^ c[i + 1]! ^ d[i + 1]!;
    dst[i + 2] = a[i + 2]! ^ b[i + 2]! ^ c[i + 2]! ^ d[i + 2]!;
    dst[i + 3] = a[i + 3]! ^ b[i + 3]! ^ c[i + 3]! ^ d[i + 3]!;
  }
  for (; i < n; i++) dst[i] = a[i]! ^ b[i]! ^ c[i]! ^ d[i]!;
}

/** dst ^= a. */
export function xorInto(dst: Uint32Array, a: Uint32Array): void {
  const n = dst.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = dst[i]! ^ a[i]!;
    dst[i + 1] = dst[i + 1]! ^ a[i + 1]!;
    dst[i + 2] = dst[i + 2]! ^ a[i + 2]!;
    dst[i + 3] = dst[i + 3]! ^ a[i + 3]!;
  }
  for (; i < n; i++) dst[i] = dst[i]! ^ a[i]!;
}

function acc2(dst: Uint32Array, a: Uint32Array, b: Uint32Array): void {
  const n = dst.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = dst[i]! ^ a[i]! ^ b[i]!;
    dst[i + 1] = dst[i + 1]! ^ a[i + 1]! ^ b[i + 1]!;
    dst[i + 2] = dst[i + 2]! ^ a[i + 2]! ^ b[i + 2]!;
    dst[i + 3] = dst[i + 3]! ^ a[i + 3]! ^ b[i + 3]!;
  }
  for (; i < n; i++) dst[i] = dst[i]! ^ a[i]! ^ b[i]!;
}

function acc3(dst: Uint32Array, a: Uint32Array, b: Uint32Array, c: Uint32Array): void {
  const n = dst.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = dst[i]! ^ a[i]! ^ b[i]! ^ c[i]!;
    dst[i + 1] = dst[i + 1]! ^ a[i + 1]! ^ b[i + 1]! ^ c[i + 1]!;
    dst[i + 2] = dst[i + 2]! ^ a[i + 2]! ^ b[i + 2]! ^ c[i + 2]!;
    dst[i + 3] = dst[i + 3]! ^ a[i + 3]! ^ b[i + 3]! ^ c[i + 3]!;
  }
  for (; i < n; i++) dst[i] = dst[i]! ^ a[i]! ^ b[i]! ^ c[i]!;
}

/**
 * dst = XOR of `sources` (all zero when there are none), on the wasm kernels when they run here:
 * `kernels` (the shared ones when omitted; null for the JS loops), in place for its arena blocks.
 * `dst` must not be one of the sources.
 */
export function xorOf(
  dst: Uint32Array,
  sources: readonly Uint32Array[],
  kernels: WasmXor | null = wasmXor(),
): void {
  if (kernels === null || sources.length === 0 || !kernels.xorOf(dst, sources)) xorOfJs(dst, sources);
}

/** The JS word-loop kernels behind `xorOf`: the fallback, and the oracle the wasm kernels are tested by. */
export function xorOfJs(dst: Uint32Array, sources: readonly Uint32Array[]): void {
  const n = sources.length;
  if (n === 0) {
    dst.fill(0);
    return;
  }
  const s = sources;
  if (n === 1) dst.set(s[0]!);
  else if (n === 2) set2(dst, s[0]!, s[1]!);
  else if (n === 3) set3(dst, s[0]!, s[1]!, s[2]!);
  else set4(dst, s[0]!, s[1]!, s[2]!, s[3]!);
  let k = 4;
  for (; k + 3 <= n; k += 3) acc3(dst, s[k]!, s[k + 1]!, s[k + 2]!);
  if (n - k === 2) acc2(dst, s[k]!, s[k + 1]!);
  else if (n - k === 1) xorInto(dst, s[k]!);
}

/** Word-for-word equality of two blocks. */
export function wordsEqual(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when every word is zero. */
export function isZero(words: Uint32Array): boolean {
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}

/**
 * The reference the parity kernels are measured against: a copy written the same way they walk
 * memory (one word at a time). Lives here so the benchmark times the same style of loop.
 */
export function copyWords(dst: Uint32Array, src: Uint32Array): void {
  const n = dst.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = src[i]!;
    dst[i + 1] = src[i + 1]!;
    dst[i + 2] = src[i + 2]!;
    dst[i + 3] = src[i + 3]!;
  }
  for (; i < n; i++) dst[i] = src[i]!;
}
