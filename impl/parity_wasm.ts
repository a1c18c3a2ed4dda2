// WebAssembly SIMD XOR kernels for parity: a module assembled here, byte by byte, whose functions XOR
// 1..8 blocks of one wasm memory into a destination 16 bytes (one v128) at a time, in a single pass.
// Fault model: none (pure arithmetic on memory). When the engine has no WebAssembly, or rejects SIMD,
// `wasmXor()` is null and callers use the JS kernels of parity.ts, which are also the tests' oracle.
//
// Blocks get into wasm memory two ways. An arena (createWasmXor(arenaBytes).block) hands out blocks
// that live there, for buffers kept across CPs: the kernels read and write them in place, nothing
// copied. Any other block (on the JS heap) is staged: copied into scratch with the engine's native
// copy, once per batch; `encode` (parity_code.ts) makes a unit one batch, so a cell read by several
// equations, or a result read by a later one (RAID-DP's diagonals read the row parity), is copied in
// once, and results are copied out once. The scratch is module state, but no value survives a batch
// (each stages its operands afresh), so to callers the kernels stay pure functions. Each memory has a
// fixed size and is never grown, so the views over it never detach.

/** Bytes of scratch: one RAID-DP unit of 4 KiB blocks at p = 13 (12 x 14 cells, 672 KiB) fits twice. */
const SCRATCH_BYTES = 24 * 65536;
const PAGE_BYTES = 65536;
/** The widest kernel: XOR of this many sources in one pass. Wider XORs chain passes through `dst`. */
export const MAX_WASM_SOURCES = 8;
/** Vectors (16 bytes each) per iteration of a kernel's main loop. */
const UNROLL = 2;

// ---- The module -----------------------------------------------------------------------------------
//
// One function per source count k = 1..8, exported as `xor1` .. `xor8`, taking byte offsets into the
// memory the module imports as `env.memory` (any size: the JS side makes it, fixed, min = max):
//
//   (func $xor2 (param $dst i32) (param $a i32) (param $b i32) (param $bytes i32)
//     (local $i i32) (local $end i32)
//     ;; main loop: UNROLL vectors per iteration, up to the last multiple of 16 * UNROLL
//     (local.set $end (i32.and (local.get $bytes) (i32.const -32)))
//     (block $done (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
//       (loop $next
//         (v128.store offset=0 (i32.add (local.get $dst) (local.get $i))
//           (v128.xor (v128.load offset=0 (i32.add (local.get $a) (local.get $i)))
//                     (v128.load offset=0 (i32.add (local.get $b) (local.get $i)))))
//         (v128.store offset=16 ...the same with offset=16...)
//         (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 32))) (local.get $end)))))
//     ;; then one vector at a time up to the last multiple of 16, then one i32 word at a time up to $bytes
//     ...)
//
// Every vector (or word) of every source is loaded before the destination's is stored, so `dst` may be
// one of the sources (identically, not shifted): xorK(d, d, s...) is d ^= s ^ .... `bytes` must be a
// multiple of 4; offsets need no alignment (wasm loads and stores are unaligned-safe).

/** Unsigned LEB128 (exported for its tests). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (for i32.const; exported for its tests). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A name as wasm spells it: length, then UTF-8 (ASCII here). */
function name(s: string): number[] {
  return [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
}

/** A section: id, byte length, contents. */
function section(id: number, contents: number[]): number[] {
  return [id, ...uleb(contents.length), ...contents];
}

/** A vector of items, each already encoded: count, then the items. */
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

// Opcodes (WebAssembly core 2.0; SIMD ones follow the 0xfd prefix as a LEB128 index).
const I32 = 0x7f;
const FUNC_TYPE = 0x60;
const BLOCK = 0x02;
const LOOP = 0x03;
const VOID = 0x40;
const END = 0x0b;
const BR_IF = 0x0d;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_LOAD = 0x28;
const I32_STORE = 0x36;
const I32_CONST = 0x41;
const I32_LT_U = 0x49;
const I32_GE_U = 0x4f;
const I32_ADD = 0x6a;
const I32_AND = 0x71;
const I32_XOR = 0x73;
const SIMD = 0xfd;
const V128_LOAD = 0;
const V128_STORE = 11;
const V128_XOR = 81;

/** A memarg: log2 of the alignment hint, then the constant offset. */
function memarg(alignLog2: number, offset: number): number[] {
  return [...uleb(alignLog2), ...uleb(offset)];
}

/**
 * One loop of the kernel over k sources: while $i < $end, XOR `lanes` units of `unitBytes` (16: v128,
 * 4: i32) at $i, then $i += lanes * unitBytes. $end is set first from $bytes & `mask`.
 */
function kernelLoop(k: number, unitBytes: 16 | 4, lanes: number, mask: number): number[] {
  const dst = 0;
  const src = (j: number): number => 1 + j;
  const bytes = k + 1;
  const i = k + 2;
  const end = k + 3;
  const step = unitBytes * lanes;
  const load = (offset: number): number[] =>
    unitBytes === 16 ? [SIMD, ...uleb(V128_LOAD), ...memarg(4, offset)] : [I32_LOAD, ...memarg(2, offset)];
  const store = (offset: number): number[] =>
    unitBytes === 16 ? [SIMD, ...uleb(V128_STORE), ...memarg(4, offset)] : [I32_STORE, ...memarg(2, offset)];
  const xor = unitBytes === 16 ? [SIMD, ...uleb(V128_XOR)] : [I32_XOR];
  const body: number[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    const offset = lane * unitBytes;
    body.push(LOCAL_GET, dst, LOCAL_GET, i, I32_ADD);
    for (let j = 0; j < k; j++) {
      body.push(LOCAL_GET, src(j), LOCAL_GET, i, I32_ADD, ...load(offset));
      if (j > 0) body.push(...xor);
    }
    body.push(...store(offset));
  }
  return [
    ...[LOCAL_GET, bytes, I32_CONST, ...sleb(mask), I32_AND, LOCAL_SET, end],
    ...[BLOCK, VOID, LOCAL_GET, i, LOCAL_GET, end, I32_GE_U, BR_IF, 0],
    ...[LOOP, VOID, ...body],
    ...[LOCAL_GET, i, I32_CONST, ...sleb(step), I32_ADD, LOCAL_TEE, i, LOCAL_GET, end, I32_LT_U, BR_IF, 0],
    ...[END, END],
  ];
}

/** The body of xorK: locals $i and $end, then the unrolled vector loop, one vector, words. */
function kernelBody(k: number): number[] {
  const code = [
    ...vec([[2, I32]]),
    ...kernelLoop(k, 16, UNROLL, -16 * UNROLL),
    ...kernelLoop(k, 16, 1, -16),
    ...kernelLoop(k, 4, 1, -4),
    END,
  ];
  return [...uleb(code.length), ...code];
}

/**
 * The module's bytes: magic and version, then the sections in their required order: types (one per
 * arity: k + 2 i32 params, no results), the memory import `env.memory` (limits: at least 0 pages, no
 * maximum), functions (xorK has type K - 1), exports, code.
 */
export function xorModuleBytes(): Uint8Array {
  const counts = Array.from({ length: MAX_WASM_SOURCES }, (_, j) => j + 1);
  const types = counts.map((k) => [FUNC_TYPE, ...vec(Array.from({ length: k + 2 }, () => [I32])), 0]);
  const imports = [[...name('env'), ...name('memory'), 0x02, 0x00, 0]];
  const functions = counts.map((_, j) => uleb(j));
  const exports = counts.map((k, j) => [...name(`xor${k}`), 0x00, ...uleb(j)]);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(functions)),
    ...section(7, vec(exports)),
    ...section(10, vec(counts.map(kernelBody))),
  ]);
}

// ---- Memory, scratch and arena -------------------------------------------------------------------

type Kernel = (dst: number, ...sourcesAndBytes: number[]) => void;

/** The few members of the WebAssembly JS API used here (tsconfig's lib has no DOM, so no types for it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
  readonly Memory: new (limits: { initial: number; maximum: number }) => WasmMemory;
}

/**
 * The kernels over one memory of their own, fixed in size: a scratch area, then an optional arena of
 * blocks handed out once (a CP's stripe and parity buffers) that the kernels read and write in place.
 *
 * Operands are Uint32Arrays. An arena block (one `block` handed out) is used where it lies; any other
 * (a block on the JS heap) is staged: copied into scratch. A batch is the span between two `begin`
 * calls, one batch at a time: `xorOf` is a batch of its own; parity_code.ts drives `stage`, `reserve`,
 * `xor` and the copies out itself, staging each cell of a unit once.
 */
export class WasmXor {
  readonly #buffer: ArrayBuffer;
  readonly #words: Uint32Array;
  /** kernels[k] XORs k sources; called through `#pass`, one call site per arity. */
  readonly #kernels: Kernel[];
  readonly #scratchBytes: number;
  /** The next free byte of scratch in the current batch. */
  #top = 0;
  /** The next free byte of the arena (which starts at #scratchBytes). */
  #arenaTop: number;
  /**
   * Arena blocks and their offsets. Looked up instead of reading `block.buffer` and `byteOffset`:
   * those getters cost 25 to 50 ns each in V8 11 (measured), a WeakMap lookup under 20.
   */
  readonly #arena = new WeakMap<Uint32Array, number>();

  constructor(api: WasmApi, module: object, scratchBytes: number, arenaBytes: number) {
    const pages = Math.ceil((scratchBytes + arenaBytes) / PAGE_BYTES);
    const memory = new api.Memory({ initial: pages, maximum: pages });
    const { exports } = new api.Instance(module, { env: { memory } });
    this.#buffer = memory.buffer;
    this.#words = new Uint32Array(this.#buffer);
    this.#kernels = Array.from({ length: MAX_WASM_SOURCES + 1 }, (_, k) => exports[`xor${k}`] as Kernel);
    this.#scratchBytes = scratchBytes;
    this.#arenaTop = scratchBytes;
  }

  /** A zeroed block of `words` words from the arena, 16-byte aligned; null once the arena is full. */
  block(words: number): Uint32Array | null {
    const offset = this.#arenaTop;
    if (offset + words * 4 > this.#buffer.byteLength) return null;
    this.#arenaTop += align16(words * 4);
    const block = new Uint32Array(this.#buffer, offset, words);
    this.#arena.set(block, offset);
    return block;
  }

  /** True when `block` is one this memory's arena handed out, so the kernels use it in place. */
  holds(block: Uint32Array): boolean {
    return this.#arena.has(block);
  }

  /** Starts a batch: the blocks staged before are forgotten, and their scratch is free again. */
  begin(): void {
    this.#top = 0;
  }

  /** The offset of `block` if it is an arena block of this memory. */
  arenaOffset(block: Uint32Array): number | undefined {
    return this.#arena.get(block);
  }

  /** Where the kernels find `block`: its arena offset, or a copy staged now; -1 when scratch is full. */
  stage(block: Uint32Array): number {
    const known = this.#arena.get(block);
    if (known !== undefined) return known;
    const offset = this.reserve(block.length * 4);
    if (offset >= 0) this.#words.set(block, offset >>> 2);
    return offset;
  }

  /** Reserves scratch for `bytes` in this batch; -1 when it is full. */
  reserve(bytes: number): number {
    const offset = this.#top;
    if (offset + bytes > this.#scratchBytes) return -1;
    this.#top += align16(bytes);
    return offset;
  }

  /** Bytes of scratch a batch may reserve and stage into. */
  get scratchBytes(): number {
    return this.#scratchBytes;
  }

  /** A new heap block holding the `bytes` at `offset`. */
  copyOut(offset: number, bytes: number): Uint32Array {
    return new Uint32Array(this.copyOutBuffer(offset, bytes));
  }

  /** A new ArrayBuffer holding the `bytes` at `offset`. */
  copyOutBuffer(offset: number, bytes: number): ArrayBuffer {
    // ArrayBuffer.slice allocates without zeroing first: about 4x cheaper than new + set (measured).
    return this.#buffer.slice(offset, offset + bytes);
  }

  /** Copies `dst.length` words at `offset` into `dst`. */
  copyTo(dst: Uint32Array, offset: number): void {
    dst.set(this.#words.subarray(offset >>> 2, (offset >>> 2) + dst.length));
  }

  /**
   * dst = XOR of `sources` (one or more, each as long as `dst`), in a batch of its own: in place when
   * `dst` is an arena block, else computed in scratch and copied into `dst`. False, with `dst`
   * untouched, when a length differs or the scratch cannot hold the operands.
   */
  xorOf(dst: Uint32Array, sources: readonly Uint32Array[]): boolean {
    const bytes = dst.length * 4;
    this.begin();
    let ok = true;
    for (let j = 0; ok && j < sources.length; j++) {
      const s = sources[j]!;
      this.offsets[j] = s.length * 4 === bytes ? this.stage(s) : -1;
      ok = this.offsets[j]! >= 0;
    }
    const inPlace = this.#arena.get(dst);
    const out = ok ? (inPlace ?? this.reserve(bytes)) : -1;
    if (out >= 0) {
      this.xor(out, sources.length, bytes);
      if (inPlace === undefined) this.copyTo(dst, out);
    }
    this.begin();
    return out >= 0;
  }

  /** Source offsets for `xor`: callers fill the first n, reused so a call allocates nothing. */
  readonly offsets: number[] = new Array<number>(MAX_WASM_SOURCES).fill(0);

  /**
   * The block at `dst` = XOR of the `n` blocks at offsets[0..n) (n >= 1), `bytes` each (a multiple of
   * 4): at most MAX_WASM_SOURCES per pass, later passes chaining through dst. dst may be one of them.
   */
  xor(dst: number, n: number, bytes: number): void {
    const o = this.offsets;
    let done = Math.min(n, MAX_WASM_SOURCES);
    this.#pass(done, dst, o[0]!, o[1]!, o[2]!, o[3]!, o[4]!, o[5]!, o[6]!, o[7]!, bytes);
    while (done < n) {
      // Later passes read dst as their first source: dst ^= up to seven more.
      const j = done;
      const k = Math.min(n - done, MAX_WASM_SOURCES - 1);
      this.#pass(
        k + 1,
        dst,
        dst,
        o[j]!,
        o[j + 1]!,
        o[j + 2]!,
        o[j + 3]!,
        o[j + 4]!,
        o[j + 5]!,
        o[j + 6]!,
        bytes,
      );
      done += k;
    }
  }

  /** One kernel pass over the first `k` of sources a..h: a call site per arity keeps each monomorphic. */
  #pass(
    k: number,
    dst: number,
    a: number,
    b: number,
    c: number,
    d: number,
    e: number,
    f: number,
    g: number,
    h: number,
    bytes: number,
  ): void {
    const x = this.#kernels;
    switch (k) {
      case 1:
        return x[1]!(dst, a, bytes);
      case 2:
        return x[2]!(dst, a, b, bytes);
      case 3:
        return x[3]!(dst, a, b, c, bytes);
      case 4:
        return x[4]!(dst, a, b, c, d, bytes);
      case 5:
        return x[5]!(dst, a, b, c, d, e, bytes);
      case 6:
        return x[6]!(dst, a, b, c, d, e, f, bytes);
      case 7:
        return x[7]!(dst, a, b, c, d, e, f, g, bytes);
      default:
        return x[8]!(dst, a, b, c, d, e, f, g, h, bytes);
    }
  }
}

function align16(bytes: number): number {
  return (bytes + 15) & ~15;
}

/**
 * Kernels over a memory with an arena of `arenaBytes` for blocks (`block`), or null when this engine
 * cannot run them. Each call makes a memory of its own: blocks of one never lie in another.
 */
export function createWasmXor(arenaBytes: number): WasmXor | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  if (compiled === undefined) {
    const bytes = xorModuleBytes();
    compiled = api.validate(bytes) ? new api.Module(bytes) : null;
  }
  return compiled === null ? null : new WasmXor(api, compiled, SCRATCH_BYTES, arenaBytes);
}

/** The compiled module, shared by every memory (a module is immutable); null when SIMD is missing. */
let compiled: object | null | undefined;

/**
 * The kernels the parity code uses for blocks on the JS heap: scratch only, made on first use; null
 * when this engine cannot run them (no WebAssembly, or no SIMD: the module then fails validation).
 * Compilation is synchronous: the module is under 2 KiB.
 */
export function wasmXor(): WasmXor | null {
  if (shared === undefined) shared = createWasmXor(0);
  return shared;
}

let shared: WasmXor | null | undefined;
