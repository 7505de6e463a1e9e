#!/usr/bin/env python3
"""Re-saves a safetensors checkpoint as PyTorch zip checkpoints (`.bin`), without torch.

Usage: torch_bin.py SRC DST [--single] [--unknown-global] [--non-contiguous NAME]

SRC holds `model.safetensors.index.json` and its shards (or `model.safetensors`); DST gets the
same tensors as `pytorch_model-0000N-of-0000M.bin` (one per safetensors shard) with
`pytorch_model.bin.index.json`, or with --single one `pytorch_model.bin` holding an
OrderedDict with `_metadata`, as `model.state_dict()` is saved. Only the standard library is
used: the safetensors format is read by hand (a little-endian u64 header length, a JSON header,
raw bytes) and the torch format is written with `pickle` (protocol 2, persistent ids for the
storages, a stand-in `torch` / `torch._utils` module so globals pickle by name) and `zipfile`
(stored entries `archive/data.pkl`, `archive/data/<key>`, `archive/version`).

In every shard the 1-D tensors share one storage at increasing offsets, to exercise storage
offsets. --unknown-global puts `os.system` into the first shard's dict; --non-contiguous stores
the 2-D tensor NAME transposed in its storage with column-major strides (same values).
"""

import collections
import json
import os
import pickle
import struct
import sys
import types
import zipfile

torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
torch._utils = torch_utils
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


def _storage_class(name):
    cls = type(name, (), {})
    cls.__module__ = "torch"
    setattr(torch, name, cls)
    return cls


STORAGE = {
    "F32": (_storage_class("FloatStorage"), 4),
    "F16": (_storage_class("HalfStorage"), 2),
    "BF16": (_storage_class("BFloat16Storage"), 2),
}


def _rebuild_tensor_v2(*args):
    raise RuntimeError("stand-in: never called when writing")


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class Storage:
    def __init__(self, key, dtype):
        self.key = key
        self.dtype = dtype
        self.data = bytearray()

    def numel(self):
        return len(self.data) // STORAGE[self.dtype][1]


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride))

    def __reduce__(self):
        storage, offset, size, stride = self.args
        return (_rebuild_tensor_v2, (storage, offset, size, stride, False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", STORAGE[obj.dtype][0], obj.key, "cpu", obj.numel())
        return None


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    out = []
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        out.append((name, info["dtype"], info["shape"], blob[base + begin : base + end]))
    return out


def row_major(shape):
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return list(reversed(strides))


def save(tensors, path, single, unknown_global, non_contiguous):
    storages = []
    shared = {}
    state = collections.OrderedDict() if single else {}
    for name, dtype, shape, data in tensors:
        elem = STORAGE[dtype][1]
        if len(shape) == 1:
            st = shared.get(dtype)
            if st is None:
                st = shared[dtype] = Storage(str(len(storages)), dtype)
                storages.append(st)
            offset = len(st.data) // elem
            st.data += data
            state[name] = Tensor(st, offset, shape, [1])
            continue
        st = Storage(str(len(storages)), dtype)
        storages.append(st)
        if name == non_contiguous:
            rows, cols = shape
            transposed = bytearray()
            for c in range(cols):
                for r in range(rows):
                    at = (r * cols + c) * elem
                    transposed += data[at : at + elem]
            st.data += transposed
            state[name] = Tensor(st, 0, shape, [1, rows])
        else:
            st.data += data
            state[name] = Tensor(st, 0, shape, row_major(shape))
    if unknown_global:
        state["not.a.tensor"] = os.system
    if single:
        state._metadata = collections.OrderedDict([("", {"version": 1})])
    pkl = bytearray()

    class Sink:
        def write(self, b):
            pkl.extend(b)

    TorchPickler(Sink(), protocol=2).dump(state)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", bytes(pkl))
        z.writestr("archive/byteorder", "little")
        for st in storages:
            z.writestr("archive/data/" + st.key, bytes(st.data))
        z.writestr("archive/version", "3\n")


def main():
    args = sys.argv[1:]
    src, dst = args[0], args[1]
    single = "--single" in args
    unknown_global = "--unknown-global" in args
    non_contiguous = args[args.index("--non-contiguous") + 1] if "--non-contiguous" in args else None
    index_path = os.path.join(src, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name.endswith(".json") and not name.startswith("model.safetensors"):
            with open(os.path.join(src, name), "rb") as f, open(os.path.join(dst, name), "wb") as g:
                g.write(f.read())
    if single:
        tensors = [t for s in shards for t in read_safetensors(os.path.join(src, s))]
        save(tensors, os.path.join(dst, "pytorch_model.bin"), True, unknown_global, non_contiguous)
        return
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        tensors = read_safetensors(os.path.join(src, shard))
        out = "pytorch_model-%05d-of-%05d.bin" % (i + 1, len(shards))
        save(tensors, os.path.join(dst, out), False, unknown_global and i == 0, non_contiguous)
        for name, _, _, data in tensors:
            weight_map[name] = out
            total += len(data)
    with open(os.path.join(dst, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    main()
