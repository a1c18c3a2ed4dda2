#!/usr/bin/env python3
"""A cpsync process target in Python 3, standard library only: one node (a source or the destination)
of consistency-point synchronous mirroring, speaking the JSON-lines protocol of docs/process-targets.md.

Design, in short:
- RAID over the disks the harness hands us: RAID-4 (row parity P) and, for RAID-DP groups, a P+Q
  double parity of our own (Reed-Solomon over GF(2^8), one row of blocks at a time), which survives any
  two lost blocks of a row. Every block is stored with a CRC-32; a mismatch is a latent error (repaired
  from parity) or, after a power cut, a torn write (sealed at mount; parity is then recomputed).
  Each disk's last block is its mark, written at format and by a rebuild only after every row it
  rebuilt: a spare without one is not taken as data, and mount finishes its rebuild (rule D2).
- A shadow-paged volume: an image is a root block and an LBA table of (VBN, CRC) pairs in one of three
  slots; data goes to fresh VBNs (round-robin, never a VBN the committed image or the mirror's image
  uses); the root is written last, so a power cut falls back to the previous image. Both sides use the
  source's VBNs, so a CP sync ships (VBN, block) updates that the destination writes through its own
  RAID. CPs are numbered 1, 2, 3, ...
- The source logs each write in an NVLOG of two halves in NVRAM, forwards it, and acknowledges it by
  its mode. The destination keeps a ring log file per source, answers a hello with its mirror's image
  (CP, slot and table), so a resync sends only what differs.

Usage: python3 cpsync_node.py [--bug ack-before-log] [--no-describe]
  --bug ack-before-log: a deliberately broken variant that acknowledges sync and strict-sync writes as
  soon as they are in the local NVLOG, before the destination logged them (rule A1). It must be caught.
  --no-describe: do not offer to describe our messages (traces then show each one's length and checksum).
"""

import base64
import json
import struct
import sys
import zlib

PROTOCOL = 2  # the newest version we speak; we answer init with min(the harness's, ours)
# Protocol 2: the replies to these carry our console (`observation`), so the harness never asks.
CHANGES_STATE = {"init", "client-write", "client-read", "receive", "tick", "failover", "replace-disk", "scrub"}
DST = "dst"
BUG = None
if "--bug" in sys.argv:
    BUG = sys.argv[sys.argv.index("--bug") + 1]
DESCRIBES = "--no-describe" not in sys.argv


def log(*args):
    sys.stderr.write(" ".join(str(a) for a in args) + "\n")


# --------------------------------------------------------------------------------------------------
# I/O with the harness


def send_line(message):
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def read_line():
    line = sys.stdin.buffer.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


class PowerLost(Exception):
    pass


class RaidError(Exception):
    """Beyond the group's tolerance: a typed error, never wrong data."""


FAILED = set()  # ids of the disks failed now (each request says so)


def media(ops):
    """One batch of media ops, one round trip. A power cut ends the node (PowerLost)."""
    if not ops:
        return []
    send_line({"type": "media", "ops": ops})
    reply = read_line()
    results = reply["results"]
    for op, r in zip(ops, results):
        if not r["ok"]:
            if r["error"] == "power-lost":
                raise PowerLost()
            if r["error"] == "disk-failed" and "disk" in op:
                FAILED.add(op["disk"])
    return results


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text)


def u32s(data, count, offset=0):
    return list(struct.unpack_from("<%dI" % count, data, offset))


# --------------------------------------------------------------------------------------------------
# Checksums. Each disk block is stored with the harness's block checksum (harness/media/checksum.ts:
# a multiplicative hash over 32-bit little-endian words), the sector trailer the harness's disks
# verify: so a never-written block (zeros) verifies as it comes, and the harness sees a latent error
# we repaired verify again. Our own structures (roots, tables, log records, messages) use zlib's CRC-32.


def block_sum(data):
    n = len(data) // 4
    h = (0x811C9DC5 ^ len(data)) & 0xFFFFFFFF
    for w in struct.unpack_from("<%dI" % n, data):
        h = ((h ^ w) * 0x01000193) & 0xFFFFFFFF
    for b in data[4 * n :]:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    return h


# --------------------------------------------------------------------------------------------------
# GF(2^8) arithmetic for the Q parity (polynomial 0x11d, generator 2); multiplying a whole block by a
# constant is one bytes.translate.

GF_EXP = [0] * 512
GF_LOG = [0] * 256
_x = 1
for _i in range(255):
    GF_EXP[_i] = _x
    GF_LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    GF_EXP[_i] = GF_EXP[_i - 255]


def gf_mul(a, b):
    if a == 0 or b == 0:
        return 0
    return GF_EXP[GF_LOG[a] + GF_LOG[b]]


def gf_inv(a):
    return GF_EXP[255 - GF_LOG[a]]


_MUL_TABLES = {}


def mul_block(c, block):
    table = _MUL_TABLES.get(c)
    if table is None:
        table = bytes(gf_mul(c, x) for x in range(256))
        _MUL_TABLES[c] = table
    return block.translate(table)


def xor_blocks(blocks, size):
    acc = 0
    for b in blocks:
        acc ^= int.from_bytes(b, "little")
    return acc.to_bytes(size, "little")


# --------------------------------------------------------------------------------------------------
# RAID


def group_rows(geometry):
    """The rows a group's stripes hold: whole stripes before each disk's last DBN, its mark (below)."""
    return (geometry["blocksPerDisk"] - 1) // geometry["depthBlocks"] * geometry["depthBlocks"]


class Group:
    """A RAID group: data disks then P (then Q for raid_dp). VBN v is in stripe v // (n*depth); a
    stripe is `depth` consecutive DBNs of every disk; parity is kept per row (one DBN of every disk).

    Each disk's last DBN is outside every stripe: its mark, a zero block that says the disk is a whole
    member of the group. Format marks every disk; a rebuild marks its spare only after every rebuilt
    row was written (rule D2). The disks tell which DBNs were ever written on them (`stored`), so a
    disk whose mark was never written is a spare whose rebuild did not finish (or never began): its
    blocks are not data (never-written ones read as zeros that verify), it is read as missing, and
    mount finishes its rebuild. A torn mark is still a written one, and it comes after every row: the
    spare is whole then. The marks of all the disks make a row of zeros, parity-consistent, that
    scrub and mount treat as any other row."""

    def __init__(self, geometry, disks):
        self.level = geometry["level"]
        self.n = geometry["dataDisks"]
        self.depth = geometry["depthBlocks"]
        self.bytes = geometry["blockBytes"]
        self.disks = [d["id"] for d in disks]
        self.tolerance = 1 if self.level == "raid4" else 2
        if len(self.disks) != self.n + self.tolerance:
            raise ValueError("group needs %d disks" % (self.n + self.tolerance))
        self.mark = geometry["blocksPerDisk"] - 1
        self.rows = group_rows(geometry)
        if self.rows < 1:
            raise ValueError("%d blocks per disk hold no stripe beside the mark" % geometry["blocksPerDisk"])
        self.vbn_count = self.n * self.rows
        self.zero = bytes(self.bytes)
        self.unfinished = set()  # columns whose spare is not rebuilt yet: read as missing

    def locate(self, vbn):
        if not 0 <= vbn < self.vbn_count:
            raise RaidError("vbn %d outside the group (0..%d)" % (vbn, self.vbn_count - 1))
        per = self.n * self.depth
        stripe, within = divmod(vbn, per)
        col, lane = divmod(within, self.depth)
        return col, stripe * self.depth + lane

    def valid(self, data, sum_):
        return sum_ == block_sum(data)

    def up(self, col):
        return self.disks[col] not in FAILED and col not in self.unfinished

    def parity(self, data):
        p = xor_blocks(data, self.bytes)
        if self.level == "raid4":
            return [p]
        q = xor_blocks([mul_block(GF_EXP[i], d) for i, d in enumerate(data)], self.bytes)
        return [p, q]

    def reconstruct(self, row):
        """Fills the None entries of one row (data then parity) from the others, within tolerance."""
        lost = [i for i, v in enumerate(row) if v is None]
        if not lost:
            return row
        if len(lost) > self.tolerance:
            raise RaidError("%d blocks of a row lost, the group tolerates %d" % (len(lost), self.tolerance))
        n, size = self.n, self.bytes
        data_lost = [i for i in lost if i < n]
        if self.level == "raid4" or (len(data_lost) == 1 and row[n] is not None):
            if data_lost:
                x = data_lost[0]
                row[x] = xor_blocks([v for i, v in enumerate(row[: n + 1]) if i != x], size)
        elif len(data_lost) == 1:  # the data block and P lost: from Q
            x = data_lost[0]
            s = xor_blocks([row[n + 1]] + [mul_block(GF_EXP[i], row[i]) for i in range(n) if i != x], size)
            row[x] = mul_block(gf_inv(GF_EXP[x]), s)
        elif len(data_lost) == 2:
            x, y = data_lost
            rest = [i for i in range(n) if i not in (x, y)]
            pxy = xor_blocks([row[n]] + [row[i] for i in rest], size)
            qxy = xor_blocks([row[n + 1]] + [mul_block(GF_EXP[i], row[i]) for i in rest], size)
            gx, gy = GF_EXP[x], GF_EXP[y]
            dx = mul_block(gf_inv(gx ^ gy), xor_blocks([qxy, mul_block(gy, pxy)], size))
            row[x] = dx
            row[y] = xor_blocks([pxy, dx], size)
        parity = self.parity(row[:n])
        for j, p in enumerate(parity):
            if row[n + j] is None:
                row[n + j] = p
        return row

    def read_rows(self, dbns):
        """Each row whole, reconstructed; also the columns that were bad on a disk still up."""
        dbns = sorted(set(dbns))
        ops, where = [], []
        for dbn in dbns:
            for col, disk in enumerate(self.disks):
                if self.up(col):
                    ops.append({"op": "read", "disk": disk, "dbn": dbn})
                    where.append((dbn, col))
        results = media(ops)
        rows = {dbn: [None] * len(self.disks) for dbn in dbns}
        bad = {dbn: [] for dbn in dbns}
        for (dbn, col), r in zip(where, results):
            if r["ok"]:
                data = unb64(r["data"])
                if self.valid(data, r["sum"]):
                    rows[dbn][col] = data
                else:
                    bad[dbn].append(col)
        for dbn in dbns:
            self.reconstruct(rows[dbn])
        return rows, bad

    def read(self, vbns):
        """The blocks at `vbns`, verified; a failed disk or a bad block is rebuilt from its row and a bad
        block rewritten (repaired). Raises RaidError rather than ever returning wrong data."""
        out = {}
        ops, asked = [], []
        for v in vbns:
            col, dbn = self.locate(v)
            if self.up(col):
                ops.append({"op": "read", "disk": self.disks[col], "dbn": dbn})
                asked.append(v)
        for v, r in zip(asked, media(ops)):
            if r["ok"]:
                data = unb64(r["data"])
                if self.valid(data, r["sum"]):
                    out[v] = data
        missing = [v for v in vbns if v not in out]
        if missing:
            rows, bad = self.read_rows([self.locate(v)[1] for v in missing])
            repairs = []
            for dbn, cols in bad.items():
                for col in cols:
                    repairs.append(self._write_op(col, dbn, rows[dbn][col]))
            media(repairs)
            for v in missing:
                col, dbn = self.locate(v)
                out[v] = rows[dbn][col]
        return [out[v] for v in vbns]

    def _write_op(self, col, dbn, data):
        return {"op": "write", "disk": self.disks[col], "dbn": dbn, "data": b64(data), "sum": block_sum(data)}

    def write(self, blocks):
        """Writes (vbn, data) blocks in the order given, then the parity of every row they touch, in one
        batch: a power cut in between leaves stale parity only, which mount recomputes. Past its
        tolerance the group writes nothing: a row it cannot keep whole would be a mixture."""
        down = [col for col in range(len(self.disks)) if not self.up(col)]
        if len(down) > self.tolerance:
            raise RaidError("%d disks lost, the group tolerates %d" % (len(down), self.tolerance))
        by_row = {}
        for v, data in blocks:
            col, dbn = self.locate(v)
            by_row.setdefault(dbn, {})[col] = data
        partial = [dbn for dbn, cols in by_row.items() if len(cols) < self.n]
        rows, bad = self.read_rows(partial) if partial else ({}, {})
        data_ops, parity_ops = [], []
        for v, data in blocks:
            col, dbn = self.locate(v)
            if self.up(col):
                data_ops.append(self._write_op(col, dbn, data))
        for dbn, cols in by_row.items():
            row = rows.get(dbn) or [None] * len(self.disks)
            for col, data in cols.items():
                row[col] = data
            for col in bad.get(dbn, []):
                if col < self.n and col not in cols:
                    data_ops.append(self._write_op(col, dbn, row[col]))  # a latent error, repaired
            for j, p in enumerate(self.parity(row[: self.n])):
                if self.up(self.n + j):
                    parity_ops.append(self._write_op(self.n + j, dbn, p))
        media(data_ops + parity_ops)

    def touch(self):
        """At format: every disk's mark, so that from then on a disk without one can only be a spare
        whose rebuild did not finish (or a blank one put in while the node was down)."""
        media([self._mark_op(col) for col in range(len(self.disks)) if self.up(col)])

    def _mark_op(self, col):
        return self._write_op(col, self.mark, self.zero)

    def stored_rows(self, skip=()):
        cols = [c for c in range(len(self.disks)) if self.up(c) and c not in skip]
        results = media([{"op": "stored", "disk": self.disks[c]} for c in cols])
        stored = {}
        for c, r in zip(cols, results):
            stored[c] = set(r["dbns"]) if r["ok"] else set()
        return stored

    def rebuild(self, col):
        """Reconstructs every written row of column `col` onto its (new, blank or partly rebuilt) disk,
        read as missing meanwhile, then writes its mark, last: a power cut anywhere before leaves the
        disk unmarked, so the restart's mount rebuilds it again rather than take its blocks as data."""
        self.unfinished.add(col)
        stored = self.stored_rows(skip=(col,))
        dbns = sorted(set().union(*stored.values()) - {self.mark}) if stored else []
        for i in range(0, len(dbns), 64):
            chunk = dbns[i : i + 64]
            rows, _ = self.read_rows(chunk)
            media([self._write_op(col, dbn, rows[dbn][col]) for dbn in chunk])
        media([self._mark_op(col)])
        self.unfinished.discard(col)

    def scrub(self):
        """Reads every written row and rewrites each block that fails its checksum (a latent error),
        rebuilt from its row (rule D3). A row beyond the group's tolerance is left as it is."""
        stored = self.stored_rows()
        dbns = sorted(set().union(*stored.values())) if stored else []
        for i in range(0, len(dbns), 64):
            try:
                rows, bad = self.read_rows(dbns[i : i + 64])
            except RaidError as e:
                log("scrub: rows left unrepaired:", e)
                continue
            media([self._write_op(col, dbn, rows[dbn][col]) for dbn, cols in bad.items() for col in cols])

    def mount(self):
        """After a power cut: a disk without its mark (a spare whose rebuild the cut interrupted, or a
        blank one put in while we were down) is read as missing and rebuilt first; then a torn block
        (nothing else can be bad now: the harness never cuts power with a disk fault outstanding) is
        sealed as it is; parity is recomputed for every written row."""
        stored = self.stored_rows()
        self.unfinished = {col for col, dbns in stored.items() if self.mark not in dbns}
        for col in sorted(self.unfinished):
            try:
                self.rebuild(col)
            except RaidError as e:
                log("cannot finish the rebuild of column %d (read as missing):" % col, e)
        dbns = sorted(set().union(*self.stored_rows().values()))
        for i in range(0, len(dbns), 64):
            chunk = dbns[i : i + 64]
            ops, where = [], []
            for dbn in chunk:
                for col, disk in enumerate(self.disks):
                    if self.up(col):
                        ops.append({"op": "read", "disk": disk, "dbn": dbn})
                        where.append((dbn, col))
            rows = {dbn: [None] * len(self.disks) for dbn in chunk}
            sums = {}
            for (dbn, col), r in zip(where, media(ops)):
                if r["ok"]:
                    rows[dbn][col] = unb64(r["data"])
                    sums[(dbn, col)] = r["sum"]
            writes = []
            for dbn in chunk:
                row = rows[dbn]
                if any(v is None for v in row):
                    continue  # degraded: leave it to reads
                for col in range(self.n):
                    if not self.valid(row[col], sums[(dbn, col)]):
                        writes.append(self._write_op(col, dbn, row[col]))  # sealed: its bytes, a fresh sum
                for j, p in enumerate(self.parity(row[: self.n])):
                    col = self.n + j
                    if p != row[col] or not self.valid(row[col], sums[(dbn, col)]):
                        writes.append(self._write_op(col, dbn, p))
            media(writes)


# --------------------------------------------------------------------------------------------------
# The shadow-paged volume (the same layout on the source and on the mirror)

ROOT_MAGIC = 0x50594356  # 'PYCV'
SLOTS = 3


class Image:
    def __init__(self, cp, slot, covered, alloc, table):
        self.cp, self.slot, self.covered, self.alloc = cp, slot, covered, alloc
        self.table = table  # per LBA: (vbn, crc), vbn 0 = never written
        self.vbns = {v for v, _ in table if v}


class Layout:
    def __init__(self, spec, world):
        self.bytes = world["blockBytes"]
        self.lbas = spec["lbaCount"]
        self.table_blocks = -(-self.lbas * 8 // self.bytes)
        self.slot_blocks = 1 + self.table_blocks
        self.data_start = SLOTS * self.slot_blocks

        def vbn_count(g):
            return g["dataDisks"] * group_rows(g)  # as Group counts them: the marks hold no VBN

        self.limit = min(vbn_count(spec["primary"]), vbn_count(spec["mirror"]))

    def root_vbn(self, slot):
        return slot * self.slot_blocks


class Volume:
    def __init__(self, group, layout):
        self.group, self.L = group, layout

    def slot_blocks(self, img):
        L = self.L
        table = b"".join(struct.pack("<II", v, c) for v, c in img.table)
        table = table.ljust(L.table_blocks * L.bytes, b"\0")
        base = L.root_vbn(img.slot)
        out = [(base + 1 + t, table[t * L.bytes : (t + 1) * L.bytes]) for t in range(L.table_blocks)]
        head = struct.pack("<6I", ROOT_MAGIC, img.cp, img.covered, img.slot, img.alloc, zlib.crc32(table))
        root = (head + struct.pack("<I", zlib.crc32(head))).ljust(L.bytes, b"\0")
        out.append((base, root))
        return out

    def parse_slot(self, slot, root, table_blocks):
        """The image a slot's blocks hold, or None when they are not a valid root and table."""
        L = self.L
        if root is None or any(t is None for t in table_blocks):
            return None
        magic, cp, covered, s, alloc, table_sum, root_sum = u32s(root, 7)
        if magic != ROOT_MAGIC or root_sum != zlib.crc32(root[:24]) or s != slot:
            return None
        table = b"".join(table_blocks)
        if zlib.crc32(table) != table_sum:
            return None
        flat = u32s(table, 2 * L.lbas)
        return Image(cp, slot, covered, alloc, [(flat[2 * i], flat[2 * i + 1]) for i in range(L.lbas)])

    def read_slot(self, slot):
        base = self.L.root_vbn(slot)
        try:
            blocks = self.group.read(list(range(base, base + self.L.slot_blocks)))
        except RaidError:
            return None
        return self.parse_slot(slot, blocks[0], blocks[1:])

    def format(self):
        img = Image(0, 0, 0, self.L.data_start, [(0, 0)] * self.L.lbas)
        self.group.touch()
        self.group.write(self.slot_blocks(img))
        return img

    def mount(self):
        best = None
        for s in range(SLOTS):
            img = self.read_slot(s)
            if img and (best is None or img.cp > best.cp):
                best = img
        if best is None:
            raise RaidError("volume: no valid root in any slot")
        return best

    def allocate(self, start, count, avoid):
        L = self.L
        span = L.limit - L.data_start
        out, v = [], start
        for _ in range(span):
            if len(out) == count:
                break
            if v < L.data_start or v >= L.limit:
                v = L.data_start
            if v not in avoid:
                out.append(v)
            v += 1
        if len(out) < count:
            raise RaidError("volume: out of space")
        return out, v

    def commit(self, base, writes, cp, slot, covered, avoid):
        """A new image: `writes` (lba -> data) at fresh VBNs, then its table, then its root, last."""
        lbas = sorted(writes)
        vbns, alloc = self.allocate(base.alloc, len(lbas), avoid)
        table = list(base.table)
        data = []
        for lba, v in zip(lbas, vbns):
            table[lba] = (v, zlib.crc32(writes[lba]))
            data.append((v, writes[lba]))
        img = Image(cp, slot, covered, alloc, table)
        self.group.write(data + self.slot_blocks(img))
        return img, dict(data)

    def read_lba(self, img, lba):
        if not 0 <= lba < self.L.lbas:
            raise RaidError("lba %d outside the volume" % lba)
        v = img.table[lba][0]
        return self.group.read([v])[0] if v else bytes(self.L.bytes)

    def read_image(self, img):
        """Every LBA of the image, LBA 0 first, in one batch of reads (protocol 2's read-image)."""
        vbns = [v for v, _ in img.table if v]
        blocks = dict(zip(vbns, self.group.read(vbns))) if vbns else {}
        return [blocks[v] if v else bytes(self.L.bytes) for v, _ in img.table]

    def live_vbns(self, img):
        base = self.L.root_vbn(img.slot)
        return sorted(set(range(base, base + self.L.slot_blocks)) | img.vbns)

    def image_vbns(self, img):
        base = self.L.root_vbn(img.slot)
        return set(range(base, base + self.L.slot_blocks)) | img.vbns


# --------------------------------------------------------------------------------------------------
# Messages: a CRC-32, a JSON header's length, the header, then raw bytes (blocks). A message that
# fails its CRC or does not parse is dropped (rule M1).


def encode(header, payload=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    body = struct.pack("<I", len(h)) + h + payload
    return struct.pack("<I", zlib.crc32(body)) + body


def decode(data):
    try:
        if len(data) < 8 or struct.unpack_from("<I", data)[0] != zlib.crc32(data[4:]):
            return None
        n = struct.unpack_from("<I", data, 4)[0]
        header = json.loads(data[8 : 8 + n])
        if not isinstance(header, dict):
            return None
        return header, data[8 + n :]
    except (ValueError, struct.error):
        return None


# --------------------------------------------------------------------------------------------------
# The NVLOG: two halves of the NVRAM, each a boot-counter copy then fixed-size CRC'd entries.

ENTRY_MAGIC = 0x4E56504C
BOOT_MAGIC = 0x424F4F54
HEADER = 32


class Nvlog:
    def __init__(self, nvram_bytes, half_entries, block_bytes):
        self.half_entries = half_entries
        self.block = block_bytes
        self.half_bytes = nvram_bytes // 2

    def offset(self, half, index):
        return half * self.half_bytes + HEADER + index * (HEADER + self.block)

    def append(self, half, index, seq, lba, data):
        head = struct.pack("<3I", ENTRY_MAGIC, seq, lba)
        rec = (head + struct.pack("<I", zlib.crc32(data, zlib.crc32(head)))).ljust(HEADER, b"\0") + data
        media([{"op": "nvram-write", "offset": self.offset(half, index), "data": b64(rec)}])

    def scan(self):
        ops = [
            {"op": "nvram-read", "offset": self.offset(h, i), "length": HEADER + self.block}
            for h in range(2)
            for i in range(self.half_entries)
        ]
        out = []
        for r in media(ops):
            rec = unb64(r["data"])
            magic, seq, lba, sum_ = u32s(rec, 4)
            if magic == ENTRY_MAGIC and sum_ == zlib.crc32(rec[HEADER:], zlib.crc32(rec[:12])):
                out.append((seq, lba, rec[HEADER:]))
        return out

    def next_boot(self):
        """The boot number after the highest either copy holds, written to the other copy."""
        best = 0
        rs = media([{"op": "nvram-read", "offset": h * self.half_bytes, "length": 12} for h in range(2)])
        for r in rs:
            magic, boot, sum_ = u32s(unb64(r["data"]), 3)
            if magic == BOOT_MAGIC and sum_ == zlib.crc32(struct.pack("<2I", magic, boot)):
                best = max(best, boot)
        boot = best + 1
        head = struct.pack("<2I", BOOT_MAGIC, boot)
        rec = head + struct.pack("<I", zlib.crc32(head))
        media([{"op": "nvram-write", "offset": (boot % 2) * self.half_bytes, "data": b64(rec)}])
        return boot


# --------------------------------------------------------------------------------------------------
# The source


class Source:
    def __init__(self, node, world, media_info, start):
        self.id = node
        self.world = world
        self.spec = next(s for s in world["sources"] if s["id"] == node)
        self.mode = self.spec["mode"]
        self.L = Layout(self.spec, world)
        self.group = Group(self.spec["primary"], media_info["groups"]["primary"])
        self.vol = Volume(self.group, self.L)
        self.nvlog = Nvlog(media_info["nvramBytes"], self.spec["nvlogHalfEntries"], world["blockBytes"])
        self.effects = []
        self.relationship = "in-sync"
        self.path = []
        self.ticks = 0
        self.last_cp_start = 0
        self.active_half, self.active_count = 0, 0
        self.active, self.frozen = {}, None
        self.cp_in_progress = False
        self.awaiting = None  # (image shipped, tick sent)
        self.outstanding = {}  # seq -> tick forwarded, not yet log-acknowledged
        self.waiting = {}  # seq -> writeId: sync / strict-sync writes waiting for their log-ack
        self.lag = set()  # semi-sync: acknowledged, not yet logged
        self.semi_waiting = []  # semi-sync: (seq, writeId) waiting for room under the lag bound
        self.stalled = []  # writes not yet in the NVLOG (both halves full), in arrival order
        self.lost = None  # why the primary is past its tolerance (rule D4), for good; None while it serves
        self.resync_confirmed = False
        if start == "format":
            self.committed = self.vol.format()
            self.mirror = self.committed  # the destination formats the same CP 0
            self.session = 1
            self.next_seq = 1
        else:
            self.group.mount()
            boot = self.nvlog.next_boot()
            self.session = boot * 0x10000 + 1
            self.committed = self.vol.mount()
            self.mirror = None  # unknown until the destination's status
            entries = sorted(e for e in self.nvlog.scan() if e[0] > self.committed.covered)
            self.next_seq = max([self.committed.covered] + [e[0] for e in entries]) + 1
            self.set_relationship("out-of-sync")
            self.path = []
            if entries:
                # Replayed writes go into a CP at once, so that both NVLOG halves are free again.
                for _, lba, data in entries:
                    self.active[lba] = data
                self.active_count = len(entries)
                self.start_cp(entries[-1][0])
            self.active_half, self.active_count = 0, 0
            self.send({"t": "hello", "s": self.session})

    def set_relationship(self, r):
        if r != self.relationship:
            self.relationship = r
            self.path.append(r)

    def scrub(self):
        self.group.scrub()

    def observation(self):
        o = {
            "relationship": self.relationship,
            "primaryCp": self.committed.cp,
            "cpInProgress": self.cp_in_progress,
            "pendingWrites": len(self.stalled) + len(self.waiting) + len(self.semi_waiting),
        }
        if len(self.path) > 1:
            o["relationshipPath"] = self.path
        self.path = []
        return o

    def send(self, header, payload=b""):
        self.effects.append({"kind": "send", "to": DST, "bytes": b64(encode(header, payload))})

    def ack(self, write_id, ok=True, error=None):
        e = {"kind": "ack", "writeId": write_id, "ok": ok}
        if error:
            e["error"] = error
        self.effects.append(e)

    # client I/O

    def client_write(self, write_id, lba, data):
        if not 0 <= lba < self.L.lbas or len(data) != self.L.bytes:
            return self.ack(write_id, False, "lba %d outside the volume" % lba)
        if self.lost:
            return self.ack(write_id, False, "primary lost: " + self.lost)
        self.stalled.append((write_id, lba, data))
        self.pump()

    def lose(self, why):
        """Rule D4: RAID refused our primary (past its tolerance), for good: no CP or resync again, and
        the writes not yet logged fail. Entries already forwarded are still answered as ever."""
        self.lost = self.lost or why
        for write_id, _, _ in self.stalled:
            self.ack(write_id, False, "primary lost: " + why)
        self.stalled = []

    def client_read(self, lba):
        hot = self.active.get(lba)
        if hot is None and self.frozen is not None:
            hot = self.frozen.get(lba)
        return hot if hot is not None else self.vol.read_lba(self.committed, lba)

    def pump(self):
        """Admits stalled writes in arrival order while the active half has room (T2, N1)."""
        if self.lost:
            return
        while self.stalled:
            if self.active_count >= self.nvlog.half_entries:
                if self.cp_in_progress:
                    return
                self.start_cp()
                continue
            write_id, lba, data = self.stalled.pop(0)
            if self.mode == "strict-sync" and self.relationship != "in-sync":
                self.ack(write_id, False, "strict-sync: " + self.relationship)
                continue
            self.log_write(write_id, lba, data)
        self.maybe_timer_cp()

    def maybe_timer_cp(self):
        if (
            not self.lost
            and not self.cp_in_progress
            and self.active_count > 0
            and self.ticks - self.last_cp_start >= self.world["cpIntervalTicks"]
        ):
            self.start_cp()

    def log_write(self, write_id, lba, data):
        seq = self.next_seq
        self.next_seq += 1
        self.nvlog.append(self.active_half, self.active_count, seq, lba, data)
        self.active_count += 1
        self.active[lba] = data
        if self.relationship != "out-of-sync":
            self.outstanding[seq] = self.ticks
            self.send({"t": "entry", "s": self.session, "seq": seq, "lba": lba}, data)
        if self.relationship != "in-sync":
            return self.ack(write_id)
        if self.mode == "semi-sync":
            self.semi_waiting.append((seq, write_id))
            self.drain_semi()
        elif BUG == "ack-before-log":
            self.ack(write_id)  # the deliberate bug: no round trip to the destination
        else:
            self.waiting[seq] = write_id

    def drain_semi(self):
        while self.semi_waiting and len(self.lag) < self.world["semiSyncMaxLagEntries"]:
            seq, write_id = self.semi_waiting.pop(0)
            if seq in self.outstanding:
                self.lag.add(seq)
            self.ack(write_id)

    # CPs

    def start_cp(self, covered_override=None):
        """Freezes the active half and writes the next CP (data, table, root last). In sync or resyncing
        it ships the VBN updates against the mirror's image and waits for the confirm."""
        self.cp_in_progress = True
        self.frozen = self.active
        frozen_last = covered_override if covered_override is not None else self.next_seq - 1
        self.active = {}
        self.active_half = 1 - self.active_half
        self.active_count = 0
        self.last_cp_start = self.ticks
        base, m = self.committed, self.mirror
        ship = self.relationship != "out-of-sync" and m is not None
        writes = dict(self.frozen)
        avoid = set(base.vbns)
        busy_slots = {base.slot}
        if m is not None:
            avoid |= m.vbns
            busy_slots.add(m.slot)
        if ship:
            # A VBN the mirror's image uses for other contents must not be overwritten there before the
            # new root is durable: such a block moves to a fresh VBN (its data read back from our disk).
            moved = [
                lba
                for lba, (v, c) in enumerate(base.table)
                if v and lba not in writes and v in m.vbns and m.table[lba] != (v, c)
            ]
            if moved:
                data = self.group.read([base.table[lba][0] for lba in moved])
                writes.update(zip(moved, data))
        slot = min(s for s in range(SLOTS) if s not in busy_slots)
        covered = max(base.covered, frozen_last)
        img, fresh = self.vol.commit(base, writes, base.cp + 1, slot, covered, avoid)
        self.committed = img
        if ship:
            changed = [v for lba, (v, c) in enumerate(img.table) if v and m.table[lba] != (v, c)]
            old = [v for v in changed if v not in fresh]
            old_data = dict(zip(old, self.group.read(old))) if old else {}
            blocks = [(v, fresh.get(v, old_data.get(v))) for v in changed] + self.vol.slot_blocks(img)
            self.awaiting = (img, self.ticks)
            self.send(
                {"t": "cp-sync", "s": self.session, "cp": img.cp, "base": m.cp, "vbns": [v for v, _ in blocks]},
                b"".join(d for _, d in blocks),
            )
            return
        self.complete_cp()

    def complete_cp(self):
        self.cp_in_progress = False
        self.frozen = None
        self.awaiting = None
        if self.active_count >= self.nvlog.half_entries or (
            self.active_count > 0 and self.ticks - self.last_cp_start >= self.world["cpIntervalTicks"]
        ):
            self.start_cp()

    # time and messages

    def tick(self):
        self.ticks += 1
        t = self.world["ackTimeoutTicks"]
        late = (self.awaiting is not None and self.ticks - self.awaiting[1] >= t) or any(
            self.ticks - sent >= t for sent in self.outstanding.values()
        )
        if late and self.relationship != "out-of-sync":
            self.go_out_of_sync()
        elif self.relationship == "out-of-sync" and not self.lost:
            self.send({"t": "hello", "s": self.session})
        self.maybe_timer_cp()
        self.pump()

    def go_out_of_sync(self):
        self.set_relationship("out-of-sync")
        self.session += 1
        self.resync_confirmed = False
        self.outstanding.clear()
        self.lag.clear()
        for write_id in self.waiting.values():
            if self.mode == "strict-sync":
                self.ack(write_id, False, "strict-sync: out of sync")
            else:
                self.ack(write_id)
        self.waiting.clear()
        for _, write_id in self.semi_waiting:
            self.ack(write_id)
        self.semi_waiting = []
        if self.awaiting:
            self.complete_cp()
        self.send({"t": "hello", "s": self.session})

    def receive(self, header, payload):
        t = header.get("t")
        if header.get("s") != self.session:
            return  # an answer to an older session: its requests were settled
        if t == "status":
            if self.relationship == "out-of-sync" and not self.cp_in_progress and not self.lost:
                raw = payload
                if len(raw) != 8 * self.L.lbas:
                    return
                flat = u32s(raw, 2 * self.L.lbas)
                table = [(flat[2 * i], flat[2 * i + 1]) for i in range(self.L.lbas)]
                self.mirror = Image(header["cp"], header["slot"], header["covered"], 0, table)
                self.set_relationship("resyncing")
                self.resync_confirmed = False
                self.start_cp()
        elif t == "log-ack":
            seq = header["seq"]
            if seq in self.outstanding:
                del self.outstanding[seq]
                # A sync write is acknowledged once it and every entry before it are logged: failover
                # replays the log file only up to its first gap.
                first_unlogged = min(self.outstanding) if self.outstanding else float("inf")
                for s in sorted(self.waiting):
                    if s > first_unlogged or s in self.outstanding:
                        break
                    self.ack(self.waiting.pop(s))
                self.lag.discard(seq)
                for i, (s, write_id) in enumerate(self.semi_waiting):
                    if s == seq:
                        self.semi_waiting.pop(i)
                        self.ack(write_id)
                        break
                self.drain_semi()
                self.check_in_sync()
        elif t == "confirm":
            if self.awaiting and self.awaiting[0].cp == header["cp"]:
                self.mirror = self.awaiting[0]
                if self.relationship == "resyncing":
                    self.resync_confirmed = True
                self.complete_cp()
                self.check_in_sync()
        self.pump()

    def check_in_sync(self):
        if (
            self.relationship == "resyncing"
            and self.resync_confirmed
            and not self.outstanding
            and not self.cp_in_progress
        ):
            self.set_relationship("in-sync")


# --------------------------------------------------------------------------------------------------
# The destination: per source a mirror volume (its own RAID) and a ring log file


LOG_SUPER = 0x50594C53
LOG_RECORD = 0x50594C52


class LogFile:
    def __init__(self, group, source):
        self.group = group
        self.tag = zlib.crc32(source.encode())
        self.ring = (group.vbn_count - 1) // 2
        self.by_pos = {}  # pos -> (seq, lba)
        self.promoted = False

    def write_super(self, promoted):
        head = struct.pack("<3I", LOG_SUPER, self.tag, 1 if promoted else 0)
        block = (head + struct.pack("<I", zlib.crc32(head))).ljust(self.group.bytes, b"\0")
        self.group.write([(0, block)])
        self.promoted = promoted

    def mount(self):
        blocks = self.group.read(list(range(0, 1 + 2 * self.ring)))
        magic, tag, promoted, sum_ = u32s(blocks[0], 4)
        self.promoted = magic == LOG_SUPER and sum_ == zlib.crc32(blocks[0][:12]) and promoted == 1
        for pos in range(self.ring):
            h, d = blocks[1 + 2 * pos], blocks[2 + 2 * pos]
            magic, tag, seq, lba, dsum, hsum = u32s(h, 6)
            if magic == LOG_RECORD and tag == self.tag and hsum == zlib.crc32(h[:20]) and dsum == zlib.crc32(d):
                self.by_pos[pos] = (seq, lba)

    def has(self, seq):
        return self.by_pos.get(seq % self.ring, (None,))[0] == seq

    def append(self, seq, lba, data, covered):
        """Durably, data then header; False when the ring position holds a record not yet covered."""
        pos = seq % self.ring
        old = self.by_pos.get(pos)
        if old and old[0] > covered and old[0] != seq:
            return False
        self.by_pos.pop(pos, None)
        head = struct.pack("<5I", LOG_RECORD, self.tag, seq, lba, zlib.crc32(data))
        h = (head + struct.pack("<I", zlib.crc32(head))).ljust(self.group.bytes, b"\0")
        self.group.write([(2 + 2 * pos, data), (1 + 2 * pos, h)])
        self.by_pos[pos] = (seq, lba)
        return True

    def records(self, covered):
        live = sorted((seq, lba, pos) for pos, (seq, lba) in self.by_pos.items() if seq > covered)
        data = self.group.read([2 + 2 * pos for _, _, pos in live]) if live else []
        return [(seq, lba, d) for (seq, lba, _), d in zip(live, data)]


class Mirror:
    def __init__(self, world, spec, groups, start):
        self.L = Layout(spec, world)
        self.vol = Volume(Group(spec["mirror"], groups["mirror:" + spec["id"]]), self.L)
        self.log = LogFile(Group(spec["logFile"], groups["log:" + spec["id"]]), spec["id"])
        self.fence = 0
        self.lost = None  # why the mirror is past its tolerance (rule D5), for good; None while it serves
        if start == "format":
            self.committed = self.vol.format()
            self.log.group.touch()
            self.log.write_super(False)
        else:
            self.vol.group.mount()
            self.log.group.mount()
            self.committed = self.vol.mount()
            self.log.mount()


class Destination:
    def __init__(self, world, media_info, start):
        self.world = world
        self.effects = []
        self.mirrors = {}
        for spec in world["sources"]:
            m = Mirror(world, spec, media_info["groups"], start)
            self.mirrors[spec["id"]] = m
            if m.log.promoted:
                self.promote(m)  # a failover the power cut interrupted finishes now

    def scrub(self):
        for m in self.mirrors.values():
            m.vol.group.scrub()
            m.log.group.scrub()

    def observation(self):
        return {"mirrors": {s: {"mirrorCp": m.committed.cp, "promoted": m.log.promoted} for s, m in self.mirrors.items()}}

    def reply(self, to, header, payload=b""):
        self.effects.append({"kind": "send", "to": to, "bytes": b64(encode(header, payload))})

    def receive(self, source, header, payload):
        m = self.mirrors.get(source)
        t = header.get("t")
        if m is None or m.log.promoted or t not in ("hello", "entry", "cp-sync"):
            return
        session = header.get("s")
        if not isinstance(session, int) or session < m.fence:
            return
        m.fence = session
        c = m.committed
        if t == "hello":
            table = b"".join(struct.pack("<II", v, s) for v, s in c.table)
            self.reply(source, {"t": "status", "s": session, "cp": c.cp, "slot": c.slot, "covered": c.covered}, table)
        elif t == "entry":
            seq, lba = header["seq"], header["lba"]
            if len(payload) != m.L.bytes:
                return
            if seq <= c.covered or m.log.has(seq) or m.log.append(seq, lba, payload, c.covered):
                self.reply(source, {"t": "log-ack", "s": session, "seq": seq})
        else:
            self.apply_cp_sync(source, m, header, payload)

    def apply_cp_sync(self, source, m, header, payload):
        c, L = m.committed, m.L
        cp, base, vbns = header["cp"], header["base"], header["vbns"]
        if cp == c.cp:
            return self.reply(source, {"t": "confirm", "s": header["s"], "cp": cp})
        if m.lost:
            return  # a lost mirror commits nothing again: the source times out (rule D5)
        if cp < c.cp or base != c.cp or len(payload) != len(vbns) * L.bytes or not vbns:
            return  # stale, or not computed against our image
        blocks = [(v, payload[i * L.bytes : (i + 1) * L.bytes]) for i, v in enumerate(vbns)]
        root_vbn = vbns[-1]
        slot = root_vbn // L.slot_blocks
        if root_vbn % L.slot_blocks or slot >= SLOTS or slot == c.slot:
            return
        if any(not 0 <= v < L.limit for v in vbns) or set(vbns) & m.vol.image_vbns(c):
            return  # would change the committed image before the new root is durable: refused
        got = dict(blocks)
        tables = [got.get(root_vbn + 1 + t) for t in range(L.table_blocks)]
        img = m.vol.parse_slot(slot, got[root_vbn], tables)
        if img is None or img.cp != cp:
            return
        try:
            m.vol.group.write(blocks)  # the root is the last block: written last
        except RaidError as e:
            m.lost = str(e)  # RAID refused the write: the group is past its tolerance
            return
        m.committed = img
        self.reply(source, {"t": "confirm", "s": header["s"], "cp": cp})

    def failover(self, source):
        m = self.mirrors[source]
        if m.log.promoted:
            return
        m.log.write_super(True)
        self.promote(m)

    def promote(self, m):
        """Replays the unbroken run of log records after the mirror's CP into a new CP."""
        writes, last = {}, m.committed.covered
        for seq, lba, data in m.log.records(m.committed.covered):
            if seq != last + 1:
                break
            if lba < m.L.lbas:
                writes[lba] = data
            last = seq
        if writes or last != m.committed.covered:
            self.commit(m, writes, last)

    def commit(self, m, writes, covered):
        c = m.committed
        slot = min(s for s in range(SLOTS) if s != c.slot)
        m.committed, _ = m.vol.commit(c, writes, c.cp + 1, slot, covered, set(c.vbns))

    def client_write(self, source, write_id, lba, data):
        m = self.mirrors[source]
        if not m.log.promoted or not 0 <= lba < m.L.lbas:
            return self.effects.append({"kind": "ack", "writeId": write_id, "ok": False, "error": "not promoted"})
        try:
            self.commit(m, {lba: data}, m.committed.covered)  # durable (its own CP) before the ack
        except RaidError as e:
            return self.effects.append({"kind": "ack", "writeId": write_id, "ok": False, "error": str(e)})
        self.effects.append({"kind": "ack", "writeId": write_id, "ok": True})


# --------------------------------------------------------------------------------------------------
# The request loop


def image_of(node, source, side):
    """The volume and committed image a request names: the primary on a source, a mirror on dst."""
    if side == "primary":
        return node.vol, node.committed
    m = node.mirrors[source]
    return m.vol, m.committed


def unless_lost(node, f, *args):
    """Runs a source's call; RAID refusing its primary (past its tolerance, rule D4) takes the volume
    offline for good instead of ending the node."""
    try:
        f(*args)
    except RaidError as e:
        if not isinstance(node, Source):
            raise
        node.lose(str(e))


def handle(node, req):
    t = req["type"]
    if t == "client-write":
        data = unb64(req["data"])
        if isinstance(node, Source):
            unless_lost(node, node.client_write, req["writeId"], req["lba"], data)
        else:
            node.client_write(req["source"], req["writeId"], req["lba"], data)
        return {}
    if t == "client-read":
        try:
            if isinstance(node, Source):
                data = node.client_read(req["lba"])
            else:
                m = node.mirrors[req["source"]]
                data = m.vol.read_lba(m.committed, req["lba"])
            return {"read": {"ok": True, "data": b64(data)}}
        except RaidError as e:
            return {"read": {"ok": False, "error": str(e)}}
    if t == "receive":
        msg = decode(unb64(req["bytes"]))
        if msg is not None:
            try:
                if isinstance(node, Source):
                    unless_lost(node, node.receive, *msg)
                else:
                    node.receive(req["from"], *msg)
            except (KeyError, TypeError, IndexError, ValueError) as e:
                log("dropped a malformed message:", repr(e))
        return {}
    if t == "tick":
        for _ in range(req["ticks"]):
            if isinstance(node, Source):
                unless_lost(node, node.tick)
        return {}
    if t == "failover":
        node.failover(req["source"])
        return {}
    if t == "replace-disk":
        if isinstance(node, Source):
            g = node.group
        else:
            kind, source = req["group"].split(":", 1)
            m = node.mirrors[source]
            g = m.log.group if kind == "log" else m.vol.group
        FAILED.discard(g.disks[req["index"]])
        g.disks[req["index"]] = req["disk"]["id"]
        FAILED.discard(req["disk"]["id"])
        g.rebuild(req["index"])
        return {}
    if t == "scrub":
        node.scrub()
        return {}
    if t == "observe":
        return {"observation": node.observation()}
    if t == "read-committed":
        vol, img = image_of(node, req["source"], req["side"])
        return {"data": b64(vol.read_lba(img, req["lba"]))}
    if t == "read-image":
        vol, img = image_of(node, req["source"], req["side"])
        return {"blocks": [b64(b) for b in vol.read_image(img)]}
    if t == "live-vbns":
        vol, img = image_of(node, req["source"], req["side"])
        return {"vbns": vol.live_vbns(img)}
    if t == "read-vbn":
        vol, _ = image_of(node, req["source"], req["side"])
        return {"data": b64(vol.group.read([req["vbn"]])[0])}
    if t == "read-vbns":
        vol, _ = image_of(node, req["source"], req["side"])
        return {"blocks": [b64(b) for b in vol.group.read(req["vbns"])]}
    if t == "log-file":
        m = node.mirrors[req["source"]]
        recs = m.log.records(m.committed.covered)
        return {"records": [{"seq": s, "lba": l, "data": b64(d)} for s, l, d in recs]}
    if t == "describe":
        return {"description": describe(unb64(req["bytes"]))}
    raise ValueError("unknown request " + t)


def describe(data):
    """A message of ours in our own words, for the harness's trace; None when it is not one (corrupted,
    truncated). The kinds are our header's `t`."""
    msg = decode(data)
    if msg is None:
        return None
    h, payload = msg
    t = h.get("t")
    s = h.get("s")
    if t == "hello":
        return {"kind": "hello", "text": "hello session=%s" % s}
    if t == "entry":
        return {"kind": "entry", "text": "entry session=%s seq=%s lba=%s crc=%08x" % (s, h.get("seq"), h.get("lba"), zlib.crc32(payload))}
    if t == "log-ack":
        return {"kind": "log-ack", "text": "log-ack session=%s seq=%s" % (s, h.get("seq"))}
    if t == "cp-sync":
        vbns = h.get("vbns") or []
        return {"kind": "cp-sync", "text": "cp-sync session=%s cp=%s base=%s %d blocks" % (s, h.get("cp"), h.get("base"), len(vbns))}
    if t == "status":
        return {"kind": "status", "text": "status session=%s cp=%s slot=%s covered=%s" % (s, h.get("cp"), h.get("slot"), h.get("covered"))}
    if t == "confirm":
        return {"kind": "confirm", "text": "confirm session=%s cp=%s" % (s, h.get("cp"))}
    return None


def main():
    node = None
    version = PROTOCOL
    while True:
        req = read_line()
        FAILED.clear()
        FAILED.update(req.get("failed", []))
        rid = req["id"]
        try:
            if req["type"] == "init":
                node = None  # a new world: forget everything
                if req["node"] == DST:
                    node = Destination(req["spec"], req["media"], req["start"])
                else:
                    node = Source(req["node"], req["spec"], req["media"], req["start"])
                name = "python-shadow" + (" (bug: %s)" % BUG if BUG else "")
                version = min(req["protocol"], PROTOCOL)
                ready = {"protocol": version, "name": name, "describes": DESCRIBES}
                if version >= 2:
                    ready["scrubs"] = True
                # A recovering source says hello at once.
                reply = {"ready": ready, "effects": pending(node)}
            else:
                reply = handle(node, req)
                reply["effects"] = pending(node)
            if version >= 2 and req["type"] in CHANGES_STATE:
                reply["observation"] = node.observation()
            send_line({"type": "reply", "id": rid, **reply})
        except PowerLost:
            # What the node produced before the cut, and what its console showed then (a root write the
            # cut interrupted is not shown: this side cannot know whether it landed).
            dead = {"type": "reply", "id": rid, "powerLost": True, "effects": pending(node) if node else []}
            if node:
                dead["observation"] = node.observation()
            send_line(dead)
            for _ in sys.stdin:  # dead: wait to be killed
                pass
            return
        except Exception as e:  # the node's way to throw
            import traceback

            traceback.print_exc(file=sys.stderr)
            send_line({"type": "error", "id": rid, "message": "%s: %s" % (type(e).__name__, e)})


def pending(node):
    out = node.effects
    node.effects = []
    return out


if __name__ == "__main__":
    main()
