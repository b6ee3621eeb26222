"""Cost of one Adam step over SmolLM2-135M-sized parameters on this CPU: torch's default (for-loop) vs foreach vs fused.

    python bench/adam_micro.py [--model SmolLM2-135M] [--reps 5]

A PPO step at 4 epochs × 4 mini-batches calls optimizer.step() 16 times, so this is paid 16× per step().
"""
from __future__ import annotations
import argparse, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--model', default='SmolLM2-135M', choices=list(common.MODELS))
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(os.cpu_count())
    model = AutoModelForCausalLM.from_pretrained(common.MODELS[a.model](), dtype=torch.float32)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params: p.grad = torch.randn_like(p) * 1e-3
    n = sum(p.numel() for p in params)
    lines = [f'# Adam step cost, {a.model} ({n / 1e6:.1f} M params, {len(params)} tensors), {common.machine()}, load {os.getloadavg()}', '',
             '| variant | median s per optimizer.step() |', '|---|---|']
    for name, kw in (('default (single-tensor loop)', dict(foreach=False)), ('foreach=True', dict(foreach=True)), ('fused=True', dict(fused=True))):
        try:
            opt = torch.optim.Adam(params, lr=1e-5, **kw)
            opt.step()
            ts = []
            for _ in range(a.reps):
                t = time.perf_counter(); opt.step(); ts.append(time.perf_counter() - t)
            ts.sort(); lines.append(f'| {name} | {ts[len(ts) // 2]:.3f} |')
        except Exception as e:
            lines.append(f'| {name} | failed: {type(e).__name__}: {e} |')
        print(lines[-1], flush=True)
    text = '\n'.join(lines) + '\n'
    (common.RESULTS/'adam_micro.md').write_text(text); print(text)

if __name__ == '__main__':
    main()
