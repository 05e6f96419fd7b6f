"""Shared fixtures: random data for a cell at small sizes, and the repository's
root (for the example and the `rnnc` binary)."""

import pathlib

import numpy as np
import pytest

import rnnc

ROOT = pathlib.Path(__file__).resolve().parents[2]


def random_data(cell, dims, batch, steps, seed=0, scale=0.5):
    """(params, inputs, inits) for `cell` at `dims`: float32, uniform."""
    rng = np.random.default_rng(seed)
    params = {
        name: rng.uniform(-scale, scale, shape).astype(np.float32)
        for name, shape in cell.param_shapes(dims).items()
    }
    info = cell.inspect(dims)
    size = {d["name"]: d["size"] for d in info["dims"]}
    width = lambda v: size[v["shape"][0]] if isinstance(v["shape"][0], str) else v["shape"][0]
    inputs = {
        v["name"]: rng.uniform(-1, 1, (batch, steps, width(v))).astype(np.float32) for v in info["inputs"]
    }
    inits = {v["name"]: rng.uniform(-0.5, 0.5, (batch, width(v))).astype(np.float32) for v in info["states"]}
    return params, inputs, inits


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def para_gru():
    return rnnc.stdlib("para_gru", backend="cpu")
