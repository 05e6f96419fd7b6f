"""The GIL is released while rnnc works: other Python threads run during a call,
and two threads run cells at once with the results each would get alone."""

import threading
import time

import numpy as np

import rnnc
from conftest import random_data

# Large enough that one forward pass takes a good fraction of a second on the CPU.
BIG = {"H": 256, "D": 256}


def test_python_runs_while_a_cell_runs(para_gru):
    params, inputs, _ = random_data(para_gru, BIG, batch=4, steps=2000, scale=0.1)
    para_gru.forward(params, inputs, method="sequential")  # kernels compiled
    finished = threading.Event()
    spans = {}

    def work():
        spans["begin"] = time.perf_counter()
        para_gru.forward(params, inputs, method="sequential")
        spans["end"] = time.perf_counter()
        finished.set()

    thread = threading.Thread(target=work)
    thread.start()
    # Pure Python, which runs only while the other thread lets go of the GIL.
    ticks = []
    while not finished.is_set():
        ticks.append(time.perf_counter())
    thread.join()
    # Ticks well inside the call (20 ms margins: the call's Python around it);
    # with the GIL held through the call there would be none.
    begin, end = spans["begin"] + 0.02, spans["end"] - 0.02
    inside = sum(begin < t < end for t in ticks)
    assert end - begin > 0.05, spans
    assert inside > 1000, (inside, len(ticks), spans)


def test_two_threads_run_cells_at_once(para_gru):
    big = random_data(para_gru, BIG, batch=4, steps=2000, scale=0.1)
    elman = rnnc.stdlib("elman", backend="cpu")
    small = random_data(elman, {"H": 16, "D": 8}, batch=2, steps=200, seed=2)
    alone, _ = elman.forward(*small)
    para_gru.forward(*big, method="sequential")  # kernels compiled
    finished = threading.Event()
    spans = {}

    def work():
        spans["begin"] = time.perf_counter()
        para_gru.forward(*big, method="sequential")
        spans["end"] = time.perf_counter()
        finished.set()

    thread = threading.Thread(target=work)
    thread.start()
    returns = []
    while not finished.is_set():
        outputs, _ = elman.forward(*small)
        returns.append(time.perf_counter())
    thread.join()
    np.testing.assert_array_equal(outputs["h"], alone["h"])
    # Calls of the small cell that returned well inside the big one's call:
    # with the GIL held through a call, none could.
    begin, end = spans["begin"] + 0.02, spans["end"] - 0.02
    assert end - begin > 0.05, spans
    assert sum(begin < t < end for t in returns) >= 3, (returns, spans)
