"""H200 run 125: the PyTorch layer's device path under Nsight Systems (CUDA
and Vulkan traced, GPU context switches recorded): `para_gru_mh`, H = 1024,
B = 8, T = 2048, forward + backward, 3 warm-up calls then 5 calls, each in an
NVTX range `step`.

    nsys profile --trace=cuda,vulkan,nvtx --gpuctxsw=true -o run125 \
        python3 docs/measurements/h200-run125-profile.py
"""

import torch

import rnnc.torch as rt

torch.manual_seed(0)
layer = rt.Recurrent("para_gru_mh", {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
x = torch.randn(8, 2048, 1024, device="cuda", requires_grad=True)
g = torch.randn(8, 2048, 1024, device="cuda")
for _ in range(3):
    layer(x).backward(g)
torch.cuda.synchronize()
for _ in range(5):
    torch.cuda.nvtx.range_push("step")
    layer(x).backward(g)
    torch.cuda.nvtx.range_pop()
torch.cuda.synchronize()
