"""One torch thread in worker processes, so `nlp.pipe(n_process=N)` neither hangs nor oversubscribes.

Under Linux's `fork`, a child inherits the parent's GNU OpenMP state but not its threads: once the
parent has run a parallel torch op, the child's first one waits forever in libgomp's barrier (the
known torch-after-fork problem; it hangs in the embeddings' LayerNorm). On one thread torch runs no
parallel region, so an after-fork handler sets it, as torch's own DataLoader workers do. Under
`spawn` and `forkserver` nothing hangs, but each worker would start as many threads as the machine
has cores; a worker process started by multiprocessing that imports this module uses one thread
too. The parent keeps its threads. Call `torch.set_num_threads` after loading to choose otherwise.
"""

import multiprocessing
import os
import sys


def _one_torch_thread() -> None:
    torch = sys.modules.get("torch")  # no torch loaded: no OpenMP state to worry about
    if torch is not None:
        torch.set_num_threads(1)


def _register() -> None:
    if getattr(os, "register_at_fork", None) is not None:
        os.register_at_fork(after_in_child=_one_torch_thread)
    if multiprocessing.parent_process() is not None:  # imported in a spawn/forkserver worker
        import torch

        torch.set_num_threads(1)


_register()
