"""Where the time goes in one PPO step(): torch.profiler (operators) and cProfile (Python functions), lm_ppo and trl 0.11.4.

    python bench/profile_step.py [--model SmolLM2-135M] [--batch 16] [--resp-len 24] [--sides lm_ppo trl]

Same batch for both, one untimed warm-up step first. Writes bench/results/profile_step.txt.
"""
from __future__ import annotations
import argparse, cProfile, io, os, pstats, sys, time, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default='SmolLM2-135M', choices=list(common.MODELS))
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--resp-len', type=int, default=24)
    ap.add_argument('--sides', nargs='*', default=['lm_ppo', 'trl'])
    ap.add_argument('--precision', default='fp32', help="lm_ppo's precision (fp32 bf16 bf16-autocast)")
    a = ap.parse_args(argv)
    import torch
    from torch.profiler import profile, ProfilerActivity
    warnings.filterwarnings('ignore')
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    torch.set_num_threads(os.cpu_count())
    path = common.MODELS[a.model]()
    tok = common.load_tokenizer(path)
    cfg = dict(batch=a.batch, mini_batch=max(1, a.batch // 4), epochs=4, lr=1.41e-5)
    qs, rs, sc = common.synthetic_batch(len(tok), a.batch, a.resp_len, seed=1, special=set(tok.all_special_ids))
    out = [f'# step() profile: {a.model}, B {a.batch}, R {a.resp_len}, mb {cfg["mini_batch"]}, 4 epochs, fp32'
           f'{"" if a.precision == "fp32" else ", lm_ppo precision " + a.precision}; {common.machine()}; load {os.getloadavg()}',
           '', 'Both sides run in this one process, in the order given: a side after lm_ppo runs with the allocator setting '
           "lm_ppo's trainer applied (reuse_cpu_memory; see bench/README.md).", '']
    for side in a.sides:
        impl = common.SIDES[side](path, tok, cfg, precision=a.precision if side == 'lm_ppo' else 'fp32')
        impl.step(qs, rs, sc)                                           # warm-up
        t = time.perf_counter(); s = impl.step(qs, rs, sc); plain = time.perf_counter() - t
        with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
            impl.step(qs, rs, sc)
        cp = cProfile.Profile(); cp.enable(); s2 = impl.step(qs, rs, sc); cp.disable()
        buf = io.StringIO(); pstats.Stats(cp, stream=buf).sort_stats('cumulative').print_stats(45)
        out += [f'## {side}: step() {plain:.2f} s unprofiled (forward {s["time/ppo/forward_pass"]:.2f} s, '
                f'optimise {s["time/ppo/optimize_step"]:.2f} s)', '',
                '### torch.profiler, top operators by self CPU time', '',
                prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=30, max_name_column_width=60), '',
                '### cProfile, top functions by cumulative time', '', buf.getvalue(), '']
        print('\n'.join(out[-8:-3])[:6000], flush=True)
        del impl
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    (common.RESULTS/'profile_step.txt').write_text('\n'.join(out))

if __name__ == '__main__':
    main()
