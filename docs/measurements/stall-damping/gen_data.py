#!/usr/bin/env python3
"""Writes the random data `rnnc bench --seed S` uses (runtime/src/data/random.rs:
SplitMix64 streams per tensor, params U(-1/sqrt(fan_in), ..), scalars U(0, 1),
inputs U(-1, 1) from seed S + 1) as files for `rnnc run`:
OUTDIR/params.safetensors and OUTDIR/<input>.npy.

usage: gen_data.py RNNC CELL DIMS(H=64,D=64) B T SEED OUTDIR [--cell NAME]
"""
import json, os, struct, subprocess, sys
import numpy as np

M64 = (1 << 64) - 1

def mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    return z ^ (z >> np.uint64(31))

def stream_seed(seed, kind, name):
    h = 0xcbf29ce484222325
    for byte in kind.encode() + b"\0" + name.encode():
        h = ((h ^ byte) * 0x0100000001b3) & M64
    with np.errstate(over="ignore"):
        state = np.uint64((seed ^ h) & M64) + np.uint64(0x9e3779b97f4a7c15)
        return int(mix(np.array([state], dtype=np.uint64))[0])

def random_tensor(shape, low, high, seed):
    count = int(np.prod(shape)) if shape else 1
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = mix(np.uint64(seed) + i * np.uint64(0x9e3779b97f4a7c15))
    unit = (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    low, high = np.float32(low), np.float32(high)
    return (low + (high - low) * unit).astype(np.float32).reshape(shape)

def size(entry, dims):
    if isinstance(entry, int):
        return entry
    if "*" in entry:
        k, d = [s.strip() for s in entry.split("*")]
        return int(k) * dims[d]
    return dims[entry]

def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = np.ascontiguousarray(t, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def main():
    rnnc, cell, dims_text, b, t, seed, outdir = sys.argv[1:8]
    extra = sys.argv[8:]
    b, t, seed = int(b), int(t), int(seed)
    dims = {k: int(v) for k, v in (p.split("=") for p in dims_text.split(","))}
    info = json.loads(subprocess.check_output([rnnc, "inspect", cell, "--json"] + extra))
    os.makedirs(outdir, exist_ok=True)
    params = {}
    for p in info["params"]:
        shape = [size(e, dims) for e in p["shape"]]
        if not shape:
            low, high = 0.0, 1.0
        elif len(shape) == 1:
            bound = np.float32(1.0) / np.sqrt(np.float32(max(shape[0], 1)))
            low, high = -bound, bound
        elif len(shape) == 2:
            bound = np.float32(1.0) / np.sqrt(np.float32(max(shape[1], 1)))
            low, high = -bound, bound
        else:
            sys.exit(f"unsupported param shape {p}")
        params[p["name"]] = random_tensor(shape, low, high, stream_seed(seed, "param", p["name"]))
    write_safetensors(os.path.join(outdir, "params.safetensors"), params)
    for i in info["inputs"]:
        shape = [b, t] + [size(e, dims) for e in i["shape"]]
        x = random_tensor(shape, -1.0, 1.0, stream_seed(seed + 1, "input", i["name"]))
        np.save(os.path.join(outdir, i["name"] + ".npy"), x)

main()
