"""Side-by-side benchmark: lm_ppo vs trl 0.11.4 (rollout and PPO step) and vs a rollout loop without KV cache.

    python bench/run.py            # tiny GPT-2 (B 16/64 × R 16/48) + SmolLM2-135M (B 16 × R 16/24/48), ~30 min on 2 cores
    python bench/run.py --full     # ... plus SmolLM2-135M at B 64 (about an hour more on 2 cores)
    python bench/run.py --quick    # tiny GPT-2 only, 2 repeats, ~3 min
    python bench/run.py --configs SmolLM2-135M:16x24 --precisions fp32 bf16 bf16-autocast --repeats 3 --out NAME

Implementations: lm_ppo in each of `--precisions` (default fp32 and bf16) and trl 0.11.4 (fp32, its default). Each
lives in its own worker process (so memory is measured per implementation and one cannot warm another's
allocator); the driver sends all of them the same batches and alternates the order (A B C, C B A, ...).
Writes bench/results/<out>.md (the summary) and <out>.json (every number, each repeat's included); the running log
and per-repeat lines go to $LM_PPO_BENCH_CACHE (/tmp/lm_ppo_bench).
"""
from __future__ import annotations
import argparse, json, multiprocessing as mp, os, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

# ------------------------------------------------------------------ worker side

def _worker(side, conn, threads, precision, malloc):
    import torch, warnings
    if malloc == 'reuse':                                     # trl with the allocator setting lm_ppo's trainer makes
        from lm_ppo.precision import reuse_freed_memory
        assert reuse_freed_memory()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(threads)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    impl, impls = None, {}
    while True:
        msg = conn.recv()
        op = msg['op']
        try:
            if op == 'quit': break
            if op == 'setup':                                  # load fresh models and a trainer for one configuration
                impl = impls.pop('x', None); del impl
                tok = common.load_tokenizer(msg['path'])
                cfg = {**msg['cfg'], 'reuse_cpu_memory': malloc != 'default'} if side == 'lm_ppo' else msg['cfg']
                impl = common.SIDES[side](msg['path'], tok, cfg, precision=precision)
                impls['x'] = impl
                conn.send(dict(n_params=common.n_params(impl.model), vocab=len(tok), eos=tok.eos_token_id,
                               precision=getattr(getattr(impl, 'trainer', None), 'precision', precision),
                               special=sorted(set(tok.all_special_ids)), pad=tok.pad_token_id))
            elif op == 'step':
                torch.manual_seed(msg['seed'])
                with common.PeakRSS() as mem:
                    t = time.perf_counter()
                    s = impl.step(msg['queries'], msg['responses'], msg['scores'])
                    wall = time.perf_counter() - t
                conn.send(dict(wall=wall, fwd=float(s['time/ppo/forward_pass']), opt=float(s['time/ppo/optimize_step']),
                               total=float(s['time/ppo/total']), rss=mem.delta, kl=float(s['objective/kl'])))
            elif op == 'rollout':
                torch.manual_seed(msg['seed'])
                t = time.perf_counter()
                out = impl.generate(msg['queries'], msg['resp_len'], min_new_tokens=msg['resp_len'])
                wall = time.perf_counter() - t
                conn.send(dict(wall=wall, tokens=sum(len(o) for o in out)))
            elif op == 'nocache':
                torch.manual_seed(msg['seed'])
                lm = impl.model.pretrained_model
                t = time.perf_counter()
                out = common.generate_no_cache(lm, msg['queries'], msg['resp_len'], msg['pad'])
                wall = time.perf_counter() - t
                conn.send(dict(wall=wall, tokens=sum(len(o) for o in out)))
            elif op == 'matmul':
                conn.send({str(d): common.matmul_peak(getattr(torch, d)) for d in msg['dtypes']})
        except Exception as e:                                  # report, don't hang the driver
            import traceback
            conn.send(dict(error=f'{type(e).__name__}: {e}', tb=traceback.format_exc()))

def impl_name(side, precision, malloc=None):
    return (side if precision == 'fp32' else f'{side} {precision}') + {None: '', 'reuse': ' +reuse-mem', 'default': ' glibc-default'}[malloc]

class Worker:
    "One implementation (side + precision) in its own process."
    def __init__(self, side, threads, precision='fp32', malloc=None):
        ctx = mp.get_context('spawn')
        self.side, self.precision, self.name = side, precision, impl_name(side, precision, malloc)
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(side, child, threads, precision, malloc), daemon=True)
        self.proc.start()
    def __call__(self, **msg):
        self.conn.send(msg)
        r = self.conn.recv()
        if isinstance(r, dict) and 'error' in r: raise RuntimeError(f'[{self.name}] {r["error"]}\n{r["tb"]}')
        return r
    def close(self):
        try: self.conn.send(dict(op='quit'))
        except OSError: pass
        self.proc.join(10)

# ------------------------------------------------------------------ driver side

def med(xs): return statistics.median(xs) if xs else float('nan')

def parse_configs(specs):
    "'SmolLM2-135M:16x24' or 'SmolLM2-135M:16x48:rollout' -> dicts."
    out = []
    for spec in specs:
        model, br, *flags = spec.split(':')
        B, R = map(int, br.lower().split('x'))
        out.append(dict(model=model, B=B, R=R, rollout_only='rollout' in flags))
    return out

def bench_config(workers, model, path, B, R, repeats, lr, log, nocache=False, warmup=True, rollout_only=False, first='lm_ppo', raw_log=None):
    "Run every worker on the same batches of one configuration, alternating the order; medians per implementation."
    cfg = dict(batch=B, mini_batch=max(1, B // 4), epochs=4, lr=lr, forward_batch=16)
    info = {}
    for name, w in workers.items():
        info[name] = w(op='setup', path=path, cfg=cfg)
        if w.precision == 'auto': log(f"  {name} resolved to precision {info[name]['precision']!r}")
    meta = info['lm_ppo'] if 'lm_ppo' in info else next(iter(info.values()))
    fp32_lm = next(n for n, w in workers.items() if w.side == 'lm_ppo')   # runs the no-cache loop (fp32 weights)
    special = set(meta['special'])
    res = {s: dict(rollout=[], step=[]) for s in workers}
    res['nocache'] = []
    order = sorted(workers, key=lambda s: s != first)                    # stable: the given order, `first` first
    if warmup:   # one untimed rollout + step per side, on this configuration
        qs, rs, sc = common.synthetic_batch(meta['vocab'], B, R, seed=999, special=special)
        for s in order:
            workers[s](op='rollout', queries=qs, resp_len=R, seed=0); workers[s](op='step', queries=qs, responses=rs, scores=sc, seed=0)
    for rep in range(repeats):
        qs, rs, sc = common.synthetic_batch(meta['vocab'], B, R, seed=1000 + rep, special=special)
        for s in (order if rep % 2 == 0 else order[::-1]):          # ABBA: alternate who goes first
            res[s]['rollout'].append(workers[s](op='rollout', queries=qs, resp_len=R, seed=rep))
            if not rollout_only:
                res[s]['step'].append(workers[s](op='step', queries=qs, responses=rs, scores=sc, seed=rep))
            if raw_log:
                raw_log(dict(model=model, B=B, R=R, rep=rep, impl=s, rollout=res[s]['rollout'][-1],
                             step=res[s]['step'][-1] if res[s]['step'] else None, load=os.getloadavg()[0]))
        if nocache:
            res['nocache'].append(workers[fp32_lm](op='nocache', queries=qs, resp_len=R, seed=rep, pad=meta['pad']))
            if raw_log: raw_log(dict(model=model, B=B, R=R, rep=rep, side='nocache', rollout=res['nocache'][-1], load=os.getloadavg()[0]))
        msg = ' | '.join(f"{s}: roll {res[s]['rollout'][-1]['wall']:.2f}s" + (f" step {res[s]['step'][-1]['total']:.2f}s" if res[s]['step'] else '') for s in order)
        msg += f' | load {os.getloadavg()[0]:.1f}'
        log(f'  {model} B={B} R={R} rep {rep + 1}/{repeats}: {msg}'
            + (f" | no-cache roll {res['nocache'][-1]['wall']:.2f}s" if nocache else ''))
    # FLOPs: optimisation = 6·N·tokens·epochs (forward + backward), tokens = real query+response tokens (no padding)
    tokens = sum(len(q) + R for q in qs)
    nan = float('nan')
    out = dict(model=model, B=B, R=R, mini_batch=cfg['mini_batch'], epochs=cfg['epochs'], rollout_only=rollout_only, impls=order,
               n_params=meta['n_params'], tokens=tokens, repeats=repeats, load=os.getloadavg()[0],
               resolved={n: info[n].get('precision') for n in order})
    for s in order:
        st, ro = res[s]['step'], res[s]['rollout']
        out[s] = dict(rollout_s=med([r['wall'] for r in ro]), rollout_tok_s=med([r['tokens'] / r['wall'] for r in ro]),
                      step_s=med([r['total'] for r in st]), fwd_s=med([r['fwd'] for r in st]), opt_s=med([r['opt'] for r in st]),
                      rss_mib=med([r['rss'] for r in st]) / 2**20,
                      opt_flops=6 * meta['n_params'] * tokens * cfg['epochs'] / med([r['opt'] for r in st]) if st else nan,
                      raw=dict(step=st, rollout=ro))
    if nocache:
        out['nocache'] = dict(rollout_s=med([r['wall'] for r in res['nocache']]),
                              rollout_tok_s=med([r['tokens'] / r['wall'] for r in res['nocache']]), raw=res['nocache'])
    return out

def fmt_table(rows, peaks):
    h = ('| model | B | R | mb | impl | rollout tok/s | step() s | forward s | optimise s | peak RSS Δ MiB | opt FLOP/s (% of its precision\'s peak) '
         '| step() ratio vs trl | rollout speed vs trl |\n|' + '---|' * 13)
    lines = [h]
    for r in rows:
        b = r.get('trl')
        for name in r['impls']:
            x = r[name]
            prec = str(r.get('resolved', {}).get(name) or name)
            pk = peaks['bfloat16' if 'bf16' in prec else 'float32']
            ratio = f"**{x['step_s'] / b['step_s']:.2f}×**" if b and name != 'trl' and not r['rollout_only'] else ''
            roll = f"{x['rollout_tok_s'] / b['rollout_tok_s']:.2f}×" if b and name != 'trl' else ''
            label = 'trl 0.11.4' if name == 'trl' else name + (f' (→ {prec})' if name.endswith('auto') else '')
            step = ('| — ' * 5 if r['rollout_only'] else
                    f"| {x['step_s']:.2f} | {x['fwd_s']:.2f} | {x['opt_s']:.2f} | {x['rss_mib']:.0f} "
                    f"| {x['opt_flops'] / 1e9:.1f} G ({100 * x['opt_flops'] / pk:.0f}%) ")
            lines.append(f"| {r['model']} | {r['B']} | {r['R']} | {r['mini_batch']} | {label} | {x['rollout_tok_s']:.0f} {step}| {ratio} | {roll} |")
    return '\n'.join(lines)

def fmt_nocache(rows):
    lines = ['| model | B | R | impl | rollout s (KV cache) | no-cache loop s (fp32) | speed-up |', '|---|---|---|---|---|---|---|']
    for r in rows:
        if 'nocache' in r:
            n = r['nocache']['rollout_s']
            for name in r['impls']:
                a = r[name]['rollout_s']
                lines.append(f"| {r['model']} | {r['B']} | {r['R']} | {name} | {a:.2f} | {n:.2f} | **{n / a:.1f}×** |")
    return '\n'.join(lines)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='tiny GPT-2 only, 2 repeats')
    ap.add_argument('--models', nargs='*', default=None, choices=list(common.MODELS))
    ap.add_argument('--repeats', type=int, default=None, help='timed repeats per configuration (default 3 tiny, 2 SmolLM2)')
    ap.add_argument('--full', action='store_true', help='also SmolLM2-135M at B=64 (about an hour more on 2 cores)')
    ap.add_argument('--configs', nargs='*', default=None, help="instead of the grid, e.g. SmolLM2-135M:16x24 SmolLM2-135M:16x48:rollout")
    ap.add_argument('--precisions', nargs='*', default=['fp32', 'bf16'], help="lm_ppo's precisions to run (auto fp32 bf16 bf16-autocast fp16-autocast; auto is named by what it resolved to)")
    ap.add_argument('--no-trl', action='store_true', help='lm_ppo only (no ratios)')
    ap.add_argument('--allocator', action='store_true',
                    help="also run lm_ppo bf16 with glibc's default allocator behaviour (reuse_cpu_memory=False) "
                         "and trl with the allocator setting lm_ppo's trainer makes (reuse_freed_memory)")
    ap.add_argument('--first', default='lm_ppo', choices=['lm_ppo', 'trl'], help='who goes first in the first repeat')
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--lr', type=float, default=1.41e-5)
    ap.add_argument('--out', default=None, help='output stem under bench/results (default benchmark or benchmark_quick)')
    a = ap.parse_args(argv)
    models = a.models or (['tiny-gpt2'] if a.quick else ['tiny-gpt2', 'SmolLM2-135M'])
    stem = a.out or ('benchmark_quick' if a.quick else 'benchmark')
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    common.CACHE.mkdir(parents=True, exist_ok=True)                   # the running log and raw rows: scratch, not results
    logf = open(common.CACHE/f'{stem}.log', 'w')
    t_start = time.time()
    def log(s):
        s = f'[{time.time() - t_start:6.0f}s] {s}'; print(s, flush=True); logf.write(s + '\n'); logf.flush()

    os.environ['BENCH_THREADS'] = str(a.threads)
    ws = [Worker('lm_ppo', a.threads, p) for p in a.precisions] + ([] if a.no_trl else [Worker('trl', a.threads)])
    if a.allocator: ws += [Worker('lm_ppo', a.threads, 'bf16', 'default')] + ([] if a.no_trl else [Worker('trl', a.threads, malloc='reuse')])
    workers = {w.name: w for w in ws}
    log(f'load average at start: {os.getloadavg()}')
    try:
        import torch
        torch.set_num_threads(a.threads)
        peaks = next(iter(workers.values()))(op='matmul', dtypes=['float32', 'bfloat16'])
        log(f"matmul peak (2048³, {a.threads} threads): fp32 {peaks['float32'] / 1e9:.1f} GFLOP/s, bf16 {peaks['bfloat16'] / 1e9:.1f} GFLOP/s")
        rows = []
        rawf = open(common.CACHE/f'{stem}.jsonl', 'w')
        raw_log = lambda d: (rawf.write(json.dumps(d, default=str) + '\n'), rawf.flush())
        if a.configs:
            for c in parse_configs(a.configs):
                path = common.MODELS[c['model']]()
                rows.append(bench_config(workers, c['model'], path, c['B'], c['R'], a.repeats or 1, a.lr, log,
                                         nocache=c['B'] == 16 and c['R'] == 48, warmup=c['model'] == 'tiny-gpt2',
                                         rollout_only=c['rollout_only'], first=a.first, raw_log=raw_log))
            models = []
        for model in models:
            path = common.MODELS[model]()
            reps = a.repeats or (2 if a.quick else 3 if model == 'tiny-gpt2' else 2)
            grid = [(16, 16), (16, 48), (64, 16), (64, 48)]
            big = model == 'SmolLM2-135M'
            if big: grid = [(16, 24)] + [(b, r) for b, r in grid if a.full or b == 16]   # headline first; B=64 only with --full
            for B, R in grid:
                nocache = B == 16 and R == 48
                rows.append(bench_config(workers, model, path, B, R, reps + (1 if (big and R == 24) else 0),
                                         a.lr, log, nocache=nocache, warmup=not big, raw_log=raw_log))
        # the peak again at the end: at the start the other workers may still be importing and loading (a low peak)
        end = next(iter(workers.values()))(op='matmul', dtypes=['float32', 'bfloat16'])
        log(f"matmul peak at the end: fp32 {end['float32'] / 1e9:.1f} GFLOP/s, bf16 {end['bfloat16'] / 1e9:.1f} GFLOP/s")
        peaks = {k: max(peaks[k], end[k]) for k in peaks}
        mach = common.machine(); mach['threads'] = a.threads
        md = [f'# lm_ppo vs trl 0.11.4 — {"quick" if a.quick else "full"} run',
              '', f"**CPU kind: {mach['kind']}** (torch CPU capability {mach['cpu_capability']}, native bf16: {'yes' if mach['native_bf16'] else 'no'}).",
              '', f"Machine: {mach['cpu']}, {mach['cores']} cores ({mach['threads']} torch threads), flags: {mach['flags']}; "
              f"torch {mach['torch']}, transformers {mach['transformers']}, trl {mach['trl']}, Python {mach['python']}. "
              f"Run took {time.time() - t_start:.0f} s on {time.strftime('%Y-%m-%d')}.",
              '', f"Matmul peak measured in this run (2048×2048 @ 2048×2048, best of 5 — 256², best of 2, for bf16 where it is emulated — at the start and at the end; the higher): fp32 {peaks['float32'] / 1e9:.1f} GFLOP/s, "
              f"bf16 {peaks['bfloat16'] / 1e9:.1f} GFLOP/s.",
              '', 'Medians over the repeats; the implementations run on identical batches, each in its own worker process, '
              'the order alternating between repeats (A B C D, D C B A, ...). '
              'Query 5-7 tokens, response exactly R tokens, 4 PPO epochs, mini-batch mb = B/4, lr 1.41e-5, fp32 weights loaded; '
              "lm_ppo's precision as named (bf16 = bfloat16 compute copy with float32 master weights; its rollouts sample from that copy), "
              'trl in fp32 (its default). '
              'rollout tok/s = B·R / wall time of one batched sampling call (top_k=0, top_p=1, min_new_tokens=R). '
              "step() s = the implementation's own `time/ppo/total`; forward = `time/ppo/forward_pass` (policy + reference, no grad), "
              'optimise = `time/ppo/optimize_step`. Peak RSS Δ = resident-set peak during step() minus RSS just before '
              '(sampled every 5 ms in the worker process). Opt FLOP/s = 6 · N_params · tokens · epochs / optimise s, '
              'tokens = real query+response tokens of the batch (no padding, attention FLOPs ignored), '
              'as a fraction of the matmul peak of the precision the row computes in (bf16 rows: the bf16 peak).',
              '', fmt_table(rows, peaks), '', '## Rollout vs the no-KV-cache loop (2020 design)', '',
              'The loop re-runs the whole (left-padded) prefix for each new token, batched, same model, same sampling.', '',
              fmt_nocache(rows), '']
        head = [r for r in rows if r['model'] == 'SmolLM2-135M' and r['B'] == 16 and r['R'] == 24 and not r['rollout_only'] and r.get('trl')]
        if head:
            h = head[0]
            md += ['## Headline (SmolLM2-135M, B 16, R 24, mb 4, 4 epochs)', '']
            md += [f"{n} step() {h[n]['step_s']:.2f} s vs trl {h['trl']['step_s']:.2f} s: ratio "
                   f"**{h[n]['step_s'] / h['trl']['step_s']:.2f}×** (bar: ≤ 0.50× on each CPU kind)." for n in h['impls'] if n != 'trl'] + ['']
            tr = 'trl +reuse-mem'
            if tr in h:
                md += [f"{n} step() {h[n]['step_s']:.2f} s vs {tr} {h[tr]['step_s']:.2f} s (trl given the same allocator setting): "
                       f"ratio **{h[n]['step_s'] / h[tr]['step_s']:.2f}×**." for n in h['impls'] if not n.startswith('trl')] + ['']
        text = '\n'.join(md)
        (common.RESULTS/f'{stem}.md').write_text(text)
        (common.RESULTS/f'{stem}.json').write_text(json.dumps(dict(machine=mach, peaks=peaks, rows=rows), indent=1, default=str))
        print(text)
    finally:
        for w in workers.values(): w.close()

if __name__ == '__main__':
    main()
