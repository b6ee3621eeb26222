"""Learning parity: lm_ppo and trl 0.11.4 on the same toy task, same model, same settings, same seeds.

    python bench/learning_parity.py [--steps 60] [--seeds 0 1 2] [--model tiny-gpt2] [--precisions fp32 bf16]

Task: reward = +1 for each occurrence of the token for " the" in the response (a per-sample score, no normalisation).
Each implementation samples its own responses (its own batched generate) and trains on them; lm_ppo runs in each
of `--precisions` (bf16 = bfloat16 compute copy with float32 master weights), trl in fp32. Writes
bench/results/learning_parity.csv, .png and .md.
"""
from __future__ import annotations
import argparse, csv, os, sys, time, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PROMPTS = ['the movie was', 'this film is', 'i loved the', 'the plot was', 'a bad film with', 'what a wonderful',
           'the actors were', 'the music and', 'a great score', 'the ending was', 'this is a', 'the story and']

def run(side, precision, path, seed, steps, cfg, word, resp_len, log):
    import torch
    tok = common.load_tokenizer(path)
    target = tok.encode(word, add_special_tokens=False)
    assert len(target) == 1, f'{word!r} is {len(target)} tokens for this tokenizer; pick a single-token word'
    target = target[0]
    impl = common.SIDES[side](path, tok, cfg, precision=precision, seed=seed)
    name = side if precision == 'fp32' else f'{side} {precision}'
    g = torch.Generator().manual_seed(seed)
    pool = [torch.tensor(tok.encode(p, add_special_tokens=False)) for p in PROMPTS]
    rows = []
    torch.manual_seed(seed)
    for step in range(steps):
        qs = [pool[int(i)] for i in torch.randint(len(pool), (cfg['batch'],), generator=g)]
        t = time.perf_counter()
        rs = impl.generate(qs, resp_len)
        scores = torch.tensor([float((r == target).sum()) for r in rs])
        stats = impl.step(qs, rs, scores)
        rows.append(dict(impl=name, seed=seed, step=step, reward=scores.mean().item(), kl=float(stats['objective/kl']),
                         resp_len=sum(len(r) for r in rs) / len(rs), seconds=time.perf_counter() - t))
        if step % 10 == 0 or step == steps - 1:
            log(f'{name} seed {seed} step {step}: reward {rows[-1]["reward"]:.2f} kl {rows[-1]["kl"]:.3f}')
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=60)
    ap.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2])
    ap.add_argument('--model', default='tiny-gpt2', choices=list(common.MODELS))
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--resp-len', type=int, default=16)
    ap.add_argument('--word', default=' the')
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--precisions', nargs='*', default=['fp32', 'bf16'], help="lm_ppo's precisions")
    ap.add_argument('--replot', action='store_true', help='no runs: rewrite the .md and .png from results/learning_parity.csv')
    a = ap.parse_args(argv)
    import torch
    warnings.filterwarnings('ignore')
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    torch.set_num_threads(a.threads); os.environ['BENCH_THREADS'] = str(a.threads)
    path = common.MODELS[a.model]()
    cfg = dict(batch=a.batch, mini_batch=max(1, a.batch // 4), epochs=4, lr=a.lr, init_kl_coef=0.2, adap_kl_ctrl=True)
    log = lambda s: print(s, flush=True)
    rows = []
    if a.replot:                                                       # the runs of the last time, as recorded
        with open(common.RESULTS/'learning_parity.csv') as f:
            rows = [{k: (v if k == 'impl' else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]
        a.seeds = sorted({int(r['seed']) for r in rows}); a.steps = int(max(r['step'] for r in rows)) + 1
        a.precisions = [n.split(' ', 1)[1] if ' ' in n else 'fp32' for n in dict.fromkeys(r['impl'] for r in rows) if n != 'trl']
    for seed in ([] if a.replot else a.seeds):
        for side, prec in [('lm_ppo', p) for p in a.precisions] + [('trl', 'fp32')]:
            rows += run(side, prec, path, seed, a.steps, cfg, a.word, a.resp_len, log)
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    if not a.replot:
        with open(common.RESULTS/'learning_parity.csv', 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
    import numpy as np
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    summary = {}
    names = [('lm_ppo' if p == 'fp32' else f'lm_ppo {p}') for p in a.precisions] + ['trl']
    for side, colour in zip(names, ['tab:blue', 'tab:green', 'tab:purple', 'tab:red', 'tab:orange'][:len(names) - 1] + ['tab:orange']):
        curves = np.array([[r['reward'] for r in rows if r['impl'] == side and r['seed'] == s] for s in a.seeds])
        kls = np.array([[r['kl'] for r in rows if r['impl'] == side and r['seed'] == s] for s in a.seeds])
        for c in curves: ax[0].plot(c, color=colour, alpha=0.25, lw=0.8)
        label = 'trl 0.11.4' if side == 'trl' else side
        ax[0].plot(curves.mean(0), color=colour, lw=2, label=f'{label} (mean of {len(a.seeds)} seeds)')
        ax[1].plot(kls.mean(0), color=colour, lw=2, label=label)
        last = max(1, a.steps // 6)
        summary[side] = dict(first=curves[:, :last].mean(), last=curves[:, -last:].mean(), auc=curves.mean(),
                             last_se=curves[:, -last:].mean(1).std(ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else float('nan'),
                             per_seed_last=curves[:, -last:].mean(1), kl_last=kls[:, -last:].mean(),
                             sec=np.mean([r['seconds'] for r in rows if r['impl'] == side]))
    ax[0].set(xlabel='PPO step', ylabel=f'mean reward (count of {a.word!r} in {a.resp_len} tokens)', title='reward'); ax[0].legend()
    ax[1].set(xlabel='PPO step', ylabel='KL(policy || ref), summed over response', title='KL'); ax[1].legend()
    fig.suptitle(f'{a.model}: batch {a.batch}, mini-batch {cfg["mini_batch"]}, 4 epochs, lr {a.lr}, adaptive KL 0.2')
    fig.tight_layout(); fig.savefig(common.RESULTS/'learning_parity.png', dpi=90)
    last = max(1, a.steps // 6)
    md = ['# Learning parity: lm_ppo vs trl 0.11.4', '',
          f'Toy task: reward = number of {a.word!r} tokens in a {a.resp_len}-token sampled response. Model {a.model}; '
          f'batch {a.batch}, mini-batch {cfg["mini_batch"]}, 4 PPO epochs, lr {a.lr}, adaptive KL (init 0.2, target 6), '
          f'gamma 1, lam 0.95, {a.steps} steps, seeds {a.seeds}. Each implementation samples with its own generate.', '',
          f'| impl | mean reward, first {last} steps | mean reward, last {last} steps ± s.e. over seeds (per seed) | mean reward over all steps | KL, last {last} | s per step (rollout+step) |',
          '|---|---|---|---|---|---|']
    for side, s in summary.items():
        md.append(f"| {'trl 0.11.4' if side == 'trl' else side} | {s['first']:.2f} | {s['last']:.2f} ± {s['last_se']:.2f} ({', '.join(f'{x:.2f}' for x in s['per_seed_last'])}) "
                  f"| {s['auc']:.2f} | {s['kl_last']:.2f} | {s['sec']:.2f} |")
    for n in names[:-1]:
        x, t = summary[n], summary['trl']
        cmp = lambda u, v: 'at least as high as' if u >= v else 'below'
        md += ['', f"{n}: final reward {x['last']:.2f} is {cmp(x['last'], t['last'])} trl's {t['last']:.2f} "
                   f"(difference {x['last'] - t['last']:+.2f} ± {np.hypot(x['last_se'], t['last_se']):.2f} s.e.); "
                   f"mean over all steps {x['auc']:.2f} is {cmp(x['auc'], t['auc'])} trl's {t['auc']:.2f}."]
    md += ['', '![learning parity](learning_parity.png)', '']
    (common.RESULTS/'learning_parity.md').write_text('\n'.join(md))
    print('\n'.join(md))

if __name__ == '__main__':
    main()
