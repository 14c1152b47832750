"""TensorFlow checkpoints (TensorBundle V2, written by `tf.train.Saver`) read without TensorFlow.

A checkpoint is a prefix `P` with `P.index` and shards `P.data-0000k-of-0000N`; a text file
`checkpoint` (Google Drive may deliver it as `checkpoint.txt`) names the newest prefix.

`P.index` is a LevelDB-style sorted table:
- a 48-byte footer: metaindex and index block handles (varint offset + size), zero padding, and the
  magic 0xdb4775248b80fb57;
- blocks of entries `shared varint | unshared varint | value_len varint | key suffix | value` (keys
  are prefix-compressed against the previous key), then uint32 restart offsets and their count, and a
  5-byte trailer: compression type (0 = none) and the masked crc32c of block + type byte;
- the index block maps the last key of each data block to that block's handle;
- in the data blocks, key "" holds the `BundleHeaderProto` (num_shards, endianness), every other key
  is a tensor name whose value is a `BundleEntryProto` (dtype, shape, shard_id, offset, size,
  crc32c), decoded here from the protobuf wire format by hand.

Each tensor's bytes are checked against the stored masked crc32c before use.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crc32c
import numpy as np
import torch

from inpaintbench.io.errors import WeightsError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
_MASK_DELTA = 0xA282EAD8

#: TensorFlow DataType enum -> numpy dtype (bfloat16 has none: returned as a torch tensor).
TF_DTYPES: dict[int, Any] = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    8: np.complex64,
    9: np.int64,
    10: np.bool_,
    14: "bfloat16",
    17: np.uint16,
    18: np.complex128,
    19: np.float16,
    22: np.uint32,
    23: np.uint64,
}
TF_DTYPE_NAMES = {7: "string", 20: "resource", 21: "variant"}


def masked_crc32c(data: bytes) -> int:
    """LevelDB / TensorFlow's masked crc32c: rotate right by 15, add a constant."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


# --- protobuf wire format -----------------------------------------------------------------------


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at `pos`; return (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("varint runs past the end of the buffer")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def proto_fields(data: bytes | memoryview) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) triples; length-delimited values are returned as bytes."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError(f"field {number} runs past the end of the message")
            value, pos = bytes(data[pos : pos + length]), pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {number})")
        fields.append((number, wire, value))
    return fields


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class BundleEntry:
    """One tensor's `BundleEntryProto`."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int | None = None
    sliced: bool = False


def parse_shape(data: bytes) -> tuple[int, ...]:
    """`TensorShapeProto`: repeated Dim (field 2: size = field 1), unknown_rank = field 3."""
    dims = []
    for number, _, value in proto_fields(data):
        if number == 2:
            size = 0
            for dim_number, _, dim_value in proto_fields(value):
                if dim_number == 1:
                    size = _signed64(dim_value)
            dims.append(size)
        elif number == 3 and value:
            raise ValueError("tensor shape of unknown rank")
    return tuple(dims)


def parse_entry(name: str, data: bytes) -> BundleEntry:
    values: dict[str, Any] = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "crc32c": None}
    sliced = False
    for number, _, value in proto_fields(data):
        if number == 1:
            values["dtype"] = value
        elif number == 2:
            values["shape"] = parse_shape(value)
        elif number == 3:
            values["shard_id"] = value
        elif number == 4:
            values["offset"] = _signed64(value)
        elif number == 5:
            values["size"] = _signed64(value)
        elif number == 6:
            values["crc32c"] = value
        elif number == 7:
            sliced = True
    return BundleEntry(name=name, sliced=sliced, **values)


@dataclass(frozen=True)
class BundleHeader:
    num_shards: int = 1
    big_endian: bool = False


def parse_header(data: bytes) -> BundleHeader:
    num_shards, big_endian = 1, False
    for number, _, value in proto_fields(data):
        if number == 1:
            num_shards = value
        elif number == 2:
            big_endian = value == 1
    return BundleHeader(num_shards, big_endian)


# --- the sorted table ---------------------------------------------------------------------------


def _read_block(buffer: bytes, offset: int, size: int, source: Path) -> bytes:
    end = offset + size + BLOCK_TRAILER_SIZE
    if offset < 0 or end > len(buffer):
        raise WeightsError(f"{source}: block at {offset}+{size} lies past the end of the file (truncated?)")
    contents = buffer[offset : offset + size]
    compression = buffer[offset + size]
    (stored_crc,) = struct.unpack_from("<I", buffer, offset + size + 1)
    if masked_crc32c(buffer[offset : offset + size + 1]) != stored_crc:
        raise WeightsError(f"{source}: block at offset {offset} fails its crc32c check (damaged index)")
    if compression != 0:
        raise WeightsError(f"{source}: block compression type {compression} is not supported (only none)")
    return contents


def block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of one block, keys rebuilt from their shared prefixes."""
    if len(block) < 4:
        raise ValueError("block shorter than its restart count")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    data_end = len(block) - 4 - 4 * num_restarts
    if data_end < 0:
        raise ValueError(f"block claims {num_restarts} restart points, more than fit")
    entries, pos, key = [], 0, b""
    while pos < data_end:
        shared, pos = read_varint(block, pos)
        unshared, pos = read_varint(block, pos)
        value_len, pos = read_varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > data_end:
            raise ValueError(f"corrupt entry at block offset {pos}")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def read_table(index_path: Path) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of an SSTable file, in key order."""
    buffer = index_path.read_bytes()
    if len(buffer) < FOOTER_SIZE:
        raise WeightsError(f"{index_path}: {len(buffer)} bytes, too short for a TensorFlow checkpoint index")
    (magic,) = struct.unpack_from("<Q", buffer, len(buffer) - 8)
    if magic != TABLE_MAGIC:
        raise WeightsError(f"{index_path}: not a TensorFlow checkpoint index (bad table magic)")
    footer = buffer[len(buffer) - FOOTER_SIZE :]
    try:
        _, pos = read_varint(footer, 0)  # metaindex offset
        _, pos = read_varint(footer, pos)  # metaindex size (TensorFlow leaves it empty)
        index_offset, pos = read_varint(footer, pos)
        index_size, pos = read_varint(footer, pos)
        entries = []
        for _, handle in block_entries(_read_block(buffer, index_offset, index_size, index_path)):
            offset, hpos = read_varint(handle, 0)
            size, _ = read_varint(handle, hpos)
            entries.extend(block_entries(_read_block(buffer, offset, size, index_path)))
    except ValueError as error:
        raise WeightsError(f"{index_path}: damaged checkpoint index ({error})") from None
    return entries


# --- checkpoint folder --------------------------------------------------------------------------


_STATE_LINE = re.compile(r'^\s*model_checkpoint_path\s*:\s*"(?P<path>[^"]*)"', re.MULTILINE)


def has_table_magic(path: Path) -> bool:
    """True when the file ends with the sorted-table magic number (a TensorFlow `.index`)."""
    size = path.stat().st_size
    if size < FOOTER_SIZE:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - 8)
        return struct.unpack("<Q", handle.read(8))[0] == TABLE_MAGIC


def _prefix_from_state_file(state_file: Path) -> Path | None:
    match = _STATE_LINE.search(state_file.read_text(errors="replace"))
    if not match:
        return None
    prefix = Path(match["path"])
    # Saver writes the path it was given, often absolute on the author's machine: keep the base name.
    return state_file.parent / prefix.name


def find_prefix(path: str | Path) -> Path:
    """Checkpoint prefix from a folder, its `checkpoint`/`checkpoint.txt` file, a `.index` or a prefix."""
    path = Path(path)
    if path.is_dir():
        for state_name in ("checkpoint", "checkpoint.txt"):
            state_file = path / state_name
            if state_file.is_file():
                prefix = _prefix_from_state_file(state_file)
                if prefix is not None and prefix.with_name(prefix.name + ".index").is_file():
                    return prefix
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return indexes[0].with_suffix("")
        found = ", ".join(i.name for i in indexes) or "none"
        raise WeightsError(f"{path}: cannot tell which TensorFlow checkpoint to read (.index files: {found})")
    if path.is_file():
        if has_table_magic(path):
            if path.suffix != ".index":
                raise WeightsError(f"{path}: a TensorFlow index must keep its '<prefix>.index' name to find its shards")
            return path.with_suffix("")
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
        if _STATE_LINE.search(head):
            prefix = _prefix_from_state_file(path)
            if prefix is not None and prefix.with_name(prefix.name + ".index").is_file():
                return prefix
            raise WeightsError(f"{path}: names checkpoint {prefix}, whose .index is missing")
    elif path.with_name(path.name + ".index").is_file():
        return path
    raise WeightsError(f"{path}: no TensorFlow checkpoint here (no .index file)")


def is_tensorbundle(path: str | Path) -> bool:
    """True for a folder holding a checkpoint, its state file, an `.index` file or a prefix."""
    try:
        find_prefix(path)
    except (WeightsError, OSError, UnicodeDecodeError):
        return False
    return True


@dataclass
class TensorBundle:
    """A parsed checkpoint: header, entries by name and the shard file names."""

    prefix: Path
    header: BundleHeader
    entries: dict[str, BundleEntry] = field(default_factory=dict)

    @property
    def index_path(self) -> Path:
        return self.prefix.with_name(self.prefix.name + ".index")

    def shard_path(self, shard_id: int) -> Path:
        return self.prefix.with_name(f"{self.prefix.name}.data-{shard_id:05d}-of-{self.header.num_shards:05d}")

    def files(self) -> list[Path]:
        """Index then every data shard: what the checkpoint's identity (sha256) covers."""
        return [self.index_path] + [self.shard_path(i) for i in range(self.header.num_shards)]


def open_bundle(path: str | Path) -> TensorBundle:
    prefix = find_prefix(path)
    bundle = TensorBundle(prefix, BundleHeader())
    for key, value in read_table(bundle.index_path):
        try:
            if key == b"":
                bundle.header = parse_header(value)
            else:
                name = key.decode("utf-8")
                bundle.entries[name] = parse_entry(name, value)
        except (ValueError, UnicodeDecodeError) as error:
            raise WeightsError(f"{bundle.index_path}: damaged entry {key[:60]!r} ({error})") from None
    return bundle


def _decode(entry: BundleEntry, raw: bytes, big_endian: bool, source: Path) -> np.ndarray | torch.Tensor:
    kind = TF_DTYPES.get(entry.dtype)
    if kind is None:
        label = TF_DTYPE_NAMES.get(entry.dtype, f"enum {entry.dtype}")
        raise WeightsError(f"{source}: tensor {entry.name} has dtype {label}, which is not supported")
    if kind == "bfloat16":
        bits = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2").astype(np.int16)
        return torch.from_numpy(bits.copy()).view(torch.bfloat16).reshape(entry.shape)
    dtype = np.dtype(kind).newbyteorder(">" if big_endian else "<")
    expected = int(np.prod(entry.shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise WeightsError(f"{source}: tensor {entry.name} holds {len(raw)} bytes, its shape needs {expected}")
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(entry.shape)


def read_tensorbundle(path: str | Path, names: list[str] | None = None) -> dict[str, np.ndarray | torch.Tensor]:
    """{variable name: value} of a TensorFlow checkpoint, every tensor crc32c-checked.

    `names` restricts reading to those variables (the others' bytes are never read).
    """
    bundle = open_bundle(path)
    wanted = bundle.entries if names is None else {n: bundle.entries[n] for n in names if n in bundle.entries}
    out: dict[str, np.ndarray | torch.Tensor] = {}
    handles: dict[int, Any] = {}
    try:
        for name, entry in sorted(wanted.items(), key=lambda item: (item[1].shard_id, item[1].offset)):
            if entry.sliced:
                raise WeightsError(f"{bundle.index_path}: tensor {name} is partitioned (slices); not supported")
            shard = bundle.shard_path(entry.shard_id)
            if entry.shard_id not in handles:
                if not shard.is_file():
                    raise WeightsError(f"{shard}: data shard missing (needed for tensor {name})")
                handles[entry.shard_id] = open(shard, "rb")  # noqa: SIM115 - closed in finally
            handle = handles[entry.shard_id]
            handle.seek(entry.offset)
            raw = handle.read(entry.size)
            if len(raw) != entry.size:
                raise WeightsError(f"{shard}: truncated: tensor {name} needs bytes {entry.offset}+{entry.size}")
            if entry.crc32c is not None and masked_crc32c(raw) != entry.crc32c:
                raise WeightsError(f"{shard}: tensor {name} fails its crc32c check (file damaged)")
            out[name] = _decode(entry, raw, bundle.header.big_endian, shard)
    finally:
        for handle in handles.values():
            handle.close()
    return out
