"""Trains the model of train_adding.py under PyTorch's DistributedDataParallel:
one process per GPU (NCCL), or CPU processes (gloo), each on its share of every
global batch; DDP averages the gradients. rnnc adds nothing of its own to the
distribution: each process's layer runs on that process's GPU (the adapter with
the UUID of its CUDA device, `rnnc.torch.current_cuda_adapter`), and its
gradients are DDP's to all-reduce.

    torchrun --nproc-per-node 2 examples/python/train_ddp.py                 # CPU, gloo: CI size
    torchrun --nproc-per-node 2 examples/python/train_ddp.py --backend gpu   # one GPU a process, NCCL
    torchrun --nproc-per-node 1 examples/python/train_ddp.py ...             # the one-process run

Every process draws the same global batch (the same seed) and trains on its
slice, so N processes follow the one-process run with the same global batch,
up to rounding. Rank 0 prints one JSON line: the final training loss, the
held-out MSE, and the throughput (sequences per second) over the timed steps.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from train_adding import AddingModel, evaluate, sample  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=32, help="channels H")
    parser.add_argument("--width", type=int, default=8, help="the input layer's width D")
    parser.add_argument("--seq", type=int, default=100, help="sequence length T")
    parser.add_argument("--batch", type=int, default=32, help="the global batch (split over the processes)")
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument("--warmup", type=int, default=2, help="steps before the throughput is timed")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--backend", default="cpu", choices=["auto", "gpu", "cpu"])
    parser.add_argument("--method", default="auto", choices=["auto", "newton", "sequential"])
    parser.add_argument("--eval", type=int, default=256, help="held-out sequences")
    parser.add_argument("--eval-batch", type=int, default=8, help="held-out sequences per batch")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    cuda = args.backend != "cpu" and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch % world:
        parser.error(f"--batch {args.batch} is not a multiple of the {world} processes")
    share = args.batch // world
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")

    torch.manual_seed(args.seed)
    model = AddingModel(args.width, args.hidden, args.seq, args.backend, args.method).to(device)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    print(
        f"rank {rank}/{world}: {device}, rnnc on {model.cell.cell.device} (adapter {model.cell.adapter or 'the best'})",
        file=sys.stderr,
        flush=True,
    )
    generator = torch.Generator().manual_seed(args.seed)
    mine = slice(rank * share, (rank + 1) * share)

    losses, begin = [], None
    for step in range(args.steps):
        if step == args.warmup:
            if cuda:
                torch.cuda.synchronize()
            dist.barrier()
            begin = time.perf_counter()
        x, targets = sample(generator, args.batch, args.seq)
        x, targets = x[mine].to(device), targets[mine].to(device)
        loss = (ddp(x) - targets).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ddp.parameters(), args.clip)
        optimizer.step()
        # The global batch's loss: the mean of the equal shares' means.
        global_loss = loss.detach().clone()
        dist.all_reduce(global_loss)
        losses.append(global_loss.item() / world)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - begin if begin is not None else float("nan")
    timed = args.steps - min(args.warmup, args.steps)

    # Every process holds the same parameters (DDP's invariant): checked.
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    spread = flat.clone()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    lowest = flat.clone()
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    disagreement = (spread - lowest).abs().max().item()

    if rank == 0:
        eval_generator = torch.Generator().manual_seed(args.seed + 10_000)
        batches = [
            tuple(t.to(device) for t in sample(eval_generator, args.eval_batch, args.seq))
            for _ in range(max(1, args.eval // args.eval_batch))
        ]
        eval_mse, within = evaluate(model, batches)
        print(
            json.dumps(
                {
                    "world": world,
                    "backend": args.backend,
                    "device": model.cell.cell.device,
                    "hidden": args.hidden,
                    "width": args.width,
                    "seq": args.seq,
                    "global_batch": args.batch,
                    "steps": args.steps,
                    "final_loss": losses[-1],
                    "losses": losses,
                    "eval_mse": eval_mse,
                    "eval_within_tolerance": within,
                    "parameter_disagreement": disagreement,
                    "timed_steps": timed,
                    "seconds": seconds,
                    "sequences_per_s": args.batch * timed / seconds if timed else None,
                    "device_path": model.cell.device_path_active,
                    "last_report": model.cell.last_report,
                }
            ),
            flush=True,
        )
    # Every rank leaves together: a rank tearing the group down while another
    # still evaluates can abort in gloo's background threads.
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
