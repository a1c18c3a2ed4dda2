// The disk faults a world injected and whether each is still there, read off the disks the harness
// owns, never taken from what a target says: failed disks, planted latent errors (gone once the block
// verifies again on that disk, or once the disk failed or left its slot) and spares whose rebuild a
// power cut interrupted (whole once the node's restart returned). Fault model: none of its own; it
// only watches the simulated hardware of harness/media/.

import type { Disk } from './media/disk.ts';
import type { NodeId, NodeMedia } from './target.ts';

/** A latent error the world planted: block `dbn` of the disk that held slot `index` of `group` then. */
export interface PlantedLatentError {
  readonly node: NodeId;
  readonly group: string;
  readonly index: number;
  readonly dbn: number;
  readonly disk: Disk;
  /** The target had written the block before it rotted (a never-written one holds no data of its). */
  readonly written: boolean;
}

/** A spare put in slot `index` of `group`, while its rebuild may not have finished. */
export interface Rebuild {
  readonly node: NodeId;
  readonly group: string;
  readonly index: number;
  readonly spare: Disk;
}

/** One scrub a node ran to the end: the planted latent errors on its disks before and after it. */
export interface ScrubRecord {
  readonly node: NodeId;
  readonly before: number;
  readonly after: number;
}

export class DiskFaults {
  /** Planted latent errors seen rewritten on their disk (not carried off by a failure or a replacement). */
  repairedLatentErrors = 0;
  readonly scrubs: ScrubRecord[] = [];
  private latent: PlantedLatentError[] = [];
  private rebuilds: Rebuild[] = [];
  private readonly faulted = new Set<NodeId>();

  constructor(private readonly media: Readonly<Record<NodeId, NodeMedia>>) {}

  /** The world rots block `dbn` of the disk in slot `index` of `group` (Disk.plantLatentError). */
  /** Called just before the block rots: whether the target had written it is read off the disk. */
  plantedLatentError(node: NodeId, group: string, index: number, dbn: number): void {
    const disk = this.slot(node, group, index);
    this.latent.push({ node, group, index, dbn, disk, written: disk.holds(dbn) });
    this.faulted.add(node);
  }

  /** A disk of `node` failed. */
  failedDisk(node: NodeId): void {
    this.faulted.add(node);
  }

  /** Has `node` had any disk fault in this world (a power cut on it since shows the fault known gone)? */
  everFaulted(node: NodeId): boolean {
    return this.faulted.has(node);
  }

  /** A scrub of `node` returned, with `before` planted latent errors on its disks when it began. */
  scrubbed(node: NodeId, before: number): void {
    this.scrubs.push({ node, before, after: this.latentErrors(node).length });
  }

  /**
   * The planted latent errors still there, on `node` or everywhere: the disk still holds the slot, has
   * not failed, and the block still fails its checksum. The others are gone for good (rewritten by the
   * target: a read-repair, a scrub, a rebuild's repair or an overwrite; or counted as the disk's failure,
   * or carried off with a replaced disk) and are forgotten.
   */
  latentErrors(node?: NodeId): readonly PlantedLatentError[] {
    if (this.latent.length === 0) return this.latent;
    this.latent = this.latent.filter((e) => {
      if (this.slot(e.node, e.group, e.index) !== e.disk || e.disk.isFailed) return false;
      if (!e.disk.verifies(e.dbn)) return true;
      this.repairedLatentErrors++;
      return false;
    });
    return node === undefined ? this.latent : this.latent.filter((e) => e.node === node);
  }

  /** A rebuild onto `spare` began; it counts against its group until `rebuilt` says it finished. */
  rebuildStarted(node: NodeId, group: string, index: number, spare: Disk): void {
    this.rebuilds.push({ node, group, index, spare });
  }

  /** Every rebuild on `node` finished (its replaceDisk, or after a cut its restart, returned). */
  rebuilt(node: NodeId): void {
    this.rebuilds = this.rebuilds.filter((r) => r.node !== node);
  }

  /** Spares on `node` (or everywhere) whose rebuild a power cut interrupted and no restart has finished. */
  unfinishedRebuilds(node?: NodeId): readonly Rebuild[] {
    this.rebuilds = this.rebuilds.filter((r) => this.slot(r.node, r.group, r.index) === r.spare);
    return node === undefined ? this.rebuilds : this.rebuilds.filter((r) => r.node === node);
  }

  /**
   * Faults outstanding in one group: failed disks, spares not yet rebuilt (unless `rebuilds` is false),
   * and latent errors still there on disks that have not failed (a failed disk's own are its failure).
   */
  inGroup(node: NodeId, group: string, rebuilds = true): number {
    const disks = this.media[node]!.groups[group]!;
    let n = 0;
    for (const d of disks) if (d.isFailed) n++;
    if (rebuilds)
      for (const r of this.unfinishedRebuilds(node)) if (r.group === group && !r.spare.isFailed) n++;
    for (const e of this.latentErrors(node)) if (e.group === group) n++;
    return n;
  }

  /** Faults outstanding on every group of `node`. */
  onNode(node: NodeId): number {
    let n = 0;
    for (const group of Object.keys(this.media[node]!.groups)) n += this.inGroup(node, group);
    return n;
  }

  private slot(node: NodeId, group: string, index: number): Disk {
    const disk = this.media[node]?.groups[group]?.[index];
    if (!disk) throw new RangeError(`no disk ${node} ${group}[${index}]`);
    return disk;
  }
}
