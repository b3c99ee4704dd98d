"""The precision a CPU run actually trains in: bf16 autocast only where the CPU has bf16 in
its vector unit.

On an x86 CPU whose torch kernels stop at AVX2 (no AVX-512), bf16 convolutions are emulated:
on the 2-core AMD EPYC of session 20 a batch-64 step of the arm recipe took 17.5 s in bf16
against 1.25 s in fp32, and a conv1d forward and backward 1.40 s against 0.11 s. The shipped
CPU recipes ask for bf16 because on AVX-512 cores it was the faster (0.195 s a step), so the
run falls back to fp32 there, says so, and records what it used.

fp16 on the CPU: accelerate does not autocast there (a run asked for fp16 computed in fp32
while its log said fp16), so it is fp32 too, said in one warning."""
from __future__ import annotations

# torch.backends.cpu.get_cpu_capability() values whose bf16 is emulated (x86 below AVX-512;
# 'DEFAULT' is also an ARM CPU without SVE, not measured: fp32 is the safe side there)
EMULATED_BF16 = frozenset({'DEFAULT', 'NO AVX', 'AVX2'})


def cpu_capability() -> str:
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def effective_mixed_precision(requested: str, on_cpu: bool,
                              capability: str | None = None) -> tuple[str, str | None]:
    """(the precision to train in, a warning or None): bf16 on a CPU that emulates it and fp16
    on any CPU become 'no' (fp32); anything else is kept."""
    if requested == 'fp16' and on_cpu:
        return 'no', ('train.mixed_precision fp16 on the CPU: accelerate has no fp16 autocast '
                      'there, training in fp32 instead (bf16 is the CPU\'s, on AVX-512 cores)')
    if requested != 'bf16' or not on_cpu:
        return requested, None
    capability = cpu_capability() if capability is None else capability
    if capability not in EMULATED_BF16:
        return requested, None
    return 'no', (f'train.mixed_precision bf16 on this CPU ({capability} kernels: no AVX-512 '
                  'or SVE) is emulated and many times slower than fp32 (17.5 s against 1.25 s a '
                  'step of the arm recipe on a 2-core AVX2 EPYC): training in fp32 instead')
