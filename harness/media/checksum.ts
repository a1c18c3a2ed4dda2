// Block and record checksums: a 32-bit multiplicative hash over 32-bit words.
// Each word step h = (h ^ w) * odd is a bijection of h, so changing any single word (one flipped bit,
// one torn sector) always changes the result; this is what latent-error and torn-write detection rely on.

const PRIME = 0x01000193;
const SEED = 0x811c9dc5;

export function checksum(bytes: Uint8Array): number {
  let h = SEED ^ bytes.length;
  const words = bytes.length >>> 2;
  // Aligned bytes are read as words in place (an empty view too: a zero-length Uint32Array is valid).
  if ((bytes.byteOffset & 3) === 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
    for (let i = 0; i < words; i++) h = Math.imul(h ^ view[i]!, PRIME);
  } else {
    for (let i = 0; i < words; i++) {
      const o = i << 2;
      const w = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
      h = Math.imul(h ^ w, PRIME);
    }
  }
  for (let i = words << 2; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, PRIME);
  // Final avalanche so that nearby inputs do not give nearby sums.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
