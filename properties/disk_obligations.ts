// The disk rules of harness/target.ts (D1-D3) as properties, judged on the disks the harness owns
// (harness/disk_faults.ts reads them), never on what a target says: a scrub must leave no planted
// latent error behind, and a `sometimes` partner shows scrubs really meet latent errors.

import type { Property } from './properties.ts';

/** D3: when a node's scrub returns, every latent error on its disks verifies again. */
const scrubRepairsLatentErrors: Property = {
  name: 'scrub-repairs-latent-errors',
  kind: 'always',
  description:
    "when a node's scrub returns, every latent error on its disks is repaired (checked on the disks)",
  check(h) {
    if (h.action?.kind !== 'scrub') return null;
    const node = h.action.node;
    const scrub = h.world.diskFaults.scrubs.at(-1);
    // A scrub that lost power (or never ran: the node was down) promised nothing.
    if (!scrub || scrub.node !== node || !h.world.isUp(node)) return null;
    // Blocks the target never wrote are outside what its RAID layout may cover: not asked for.
    const left = h.world.diskFaults.latentErrors(node).filter((e) => e.written);
    if (left.length === 0) return null;
    const where = left
      .slice(0, 3)
      .map((e) => `${e.group}[${e.index}] DBN ${e.dbn} (disk ${e.disk.id})`)
      .join(', ');
    return `${node}: the scrub returned with ${left.length} latent error${left.length === 1 ? '' : 's'} still on its disks, every one within RAID tolerance: ${where}`;
  },
};

/** The precondition of D3 reached: a scrub that found planted latent errors and left none. */
const latentErrorScrubbed: Property = {
  name: 'latent-error-scrubbed',
  kind: 'sometimes',
  description: 'a scrub ran on a node with latent errors on its disks, and repaired them',
  partnerOf: ['scrub-repairs-latent-errors'],
  check(h) {
    if (h.action?.kind !== 'scrub') return false;
    const scrub = h.world.diskFaults.scrubs.at(-1);
    const node = h.action.node;
    return h.world.isUp(node) && scrub?.node === node && scrub.before > scrub.after;
  },
};

export const DISK_OBLIGATIONS: readonly Property[] = [scrubRepairsLatentErrors, latentErrorScrubbed];
