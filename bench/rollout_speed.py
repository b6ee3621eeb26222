"""Rollout speed in one process: `lm_ppo.rollout.generate` against transformers' `generate` on the same model (bf16 and
float32) and llama.cpp on the same GGUF file, alternating within every repeat; tokens/s and paired ratios.

    python bench/rollout_speed.py --threads 1 --out rollout_avx512bf16
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python bench/rollout_speed.py --threads 1 --dtypes fp32 --out rollout_avx2
"""
from __future__ import annotations
import argparse, json, os, statistics, sys, time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, smollm2_path, load_tokenizer

PROMPTS = ["The movie was", "I watched this film last night and", "Honestly, the acting", "What a", "This is the worst",
           "My favourite scene is when", "The plot", "After ten minutes I", "It is a story about", "The music in this film",
           "Nobody expected", "The director", "I laughed", "Two hours of", "The ending was", "If you like"]

def queries(tok, n):
    "n prompts of 2 to 8 tokens (cycling through PROMPTS), as 1-D LongTensors."
    return [torch.tensor(tok(PROMPTS[i % len(PROMPTS)]).input_ids) for i in range(n)]

def lm_ppo_runner(model, tok, dtype):
    from lm_ppo.rollout import generate
    def run(qs, R):
        out = generate(model, qs, tok, max_new_tokens=R, min_new_tokens=R, batch_size=len(qs), dtype=dtype)
        return sum(len(r) for r in out)
    return run

def transformers_runner(lm, tok):
    from lm_ppo.core import left_pad
    @torch.inference_mode()
    def run(qs, R):
        ids, mask, _ = left_pad(qs, tok.pad_token_id)
        out = lm.generate(input_ids=ids, attention_mask=mask, max_new_tokens=R, min_new_tokens=R, do_sample=True,
                          top_k=0, top_p=1.0, temperature=1.0, pad_token_id=tok.pad_token_id)
        return out[:, ids.shape[1]:].numel()
    return run

def llama_cpp_runner(gguf, n_threads, max_batch, max_len=64):
    "Batched sampling with llama.cpp's own decode: one sequence id per query, one llama_decode per new token for the batch."
    import numpy as np, llama_cpp
    quiet = llama_cpp.llama_log_callback(lambda *a: None); llama_cpp.llama_log_set(quiet, None)
    model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), llama_cpp.llama_model_default_params())
    p = llama_cpp.llama_context_default_params()
    p.n_ctx = p.n_batch = p.n_ubatch = max_batch * max_len
    p.n_seq_max, p.n_threads, p.n_threads_batch = max_batch, n_threads, n_threads
    ctx = llama_cpp.llama_init_from_model(model, p)
    V = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    rng = np.random.default_rng(0)
    def run(qs, R):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        batch = llama_cpp.llama_batch_init(sum(len(q) for q in qs) + len(qs), 0, len(qs))
        def submit(items):                                             # (token, pos, seq, wants_logits)
            batch.n_tokens = len(items)
            for i, (t, pos, s, lg) in enumerate(items):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = t, pos, 1, lg
                batch.seq_id[i][0] = s
            if llama_cpp.llama_decode(ctx, batch) != 0: raise RuntimeError('llama_decode failed')
        def sample(rows):                                              # inverse-CDF draw from the softmax, as lm_ppo's
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(ctx), shape=(rows, V)).astype(np.float64)
            c = np.exp(logits - logits.max(1, keepdims=True)).cumsum(1)
            return (c < rng.random((rows, 1)) * c[:, -1:]).sum(1)
        submit([(int(t), i, s, i == len(q) - 1) for s, q in enumerate(qs) for i, t in enumerate(q.tolist())])
        toks, n = sample(len(qs)), 0
        for r in range(R):
            n += len(toks)
            if r == R - 1: break
            submit([(int(t), len(qs[s]) + r, s, True) for s, t in enumerate(toks)])
            toks = sample(len(qs))
        llama_cpp.llama_batch_free(batch)
        return n
    run.keep = (quiet, model, ctx)                                     # alive as long as the runner
    return run

def matmul_ceiling(lm, B, R, reps=3):
    ("tok/s if decoding cost nothing but its matrix products: every nn.Linear of `lm` (the LM head included) once on "
     "[B, in] inputs per new token, R tokens; the best of `reps`. No implementation on these kernels goes faster.")
    lins = [m for m in lm.modules() if isinstance(m, torch.nn.Linear)]
    xs = [torch.randn(B, m.in_features, dtype=m.weight.dtype) for m in lins]
    best = float('inf')
    with torch.inference_mode():
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(R):
                for m, x in zip(lins, xs): torch.nn.functional.linear(x, m.weight, m.bias)
            best = min(best, time.perf_counter() - t)
    return B * R / best

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--batches', type=int, nargs='+', default=[32, 16])
    ap.add_argument('--new-tokens', type=int, default=24)
    ap.add_argument('--dtypes', nargs='+', default=['bf16', 'fp32'], choices=['bf16', 'fp32'])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--no-llama', action='store_true', help='leave llama.cpp out')
    ap.add_argument('--threads', type=int, default=None, help='torch (and llama.cpp) threads; default: torch\'s')
    ap.add_argument('--out', default=None, help='name of the result files in bench/results (none: print only)')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM
    from lm_ppo.data import _gguf_source, _GGUF_FILE
    path = smollm2_path(); tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()           # lm_ppo's policy: float32 master
    plain = {'fp32': model, 'bf16': AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()}
    runners = {}
    for d in a.dtypes:
        runners[f'lm_ppo {d}'] = lm_ppo_runner(model, tok, torch.bfloat16 if d == 'bf16' else None)
        runners[f'transformers {d}'] = transformers_runner(plain[d], tok)
    if not a.no_llama:
        try: runners['llama.cpp Q4_1 GGUF'] = llama_cpp_runner(Path(_gguf_source())/_GGUF_FILE, torch.get_num_threads(), max(a.batches))
        except ImportError as e: print(f'llama.cpp left out: {e}')
    R, rows = a.new_tokens, []
    info = machine()
    print(info['kind'], info['cpu'], f"{torch.get_num_threads()} threads", flush=True)
    for B in a.batches:
        qs = queries(tok, B)
        for name, run in runners.items(): run(qs, 4)                   # warm-up: the compute copy, first calls
        times = {n: [] for n in runners}
        for rep in range(a.repeats):
            order = list(runners) if rep % 2 == 0 else list(runners)[::-1]
            for name in order:
                t = time.perf_counter(); n = runners[name](qs, R); dt = time.perf_counter() - t
                times[name].append(B * R / dt); assert n == B * R, (name, n)
                print(f"B {B} R {R} rep {rep} {name}: {B * R / dt:.0f} tok/s", flush=True)
        for d in a.dtypes:                                             # the ceiling, measured after the runs
            times[f'matmuls only {d} (ceiling)'] = [matmul_ceiling(plain[d], B, R)] * a.repeats
            print(f"B {B} R {R} matmuls only {d}: {times[f'matmuls only {d} (ceiling)'][0]:.0f} tok/s", flush=True)
        for name, tps in times.items():
            row = dict(batch=B, new_tokens=R, impl=name, tok_s=statistics.median(tps), tok_s_all=tps)
            for d in a.dtypes:                                         # paired ratios within each repeat
                if name != f'transformers {d}':
                    row[f'vs transformers {d}'] = statistics.median(x / y for x, y in zip(tps, times[f'transformers {d}']))
            rows.append(row)
    load = os.getloadavg()
    table = ['| B | R | implementation | tok/s (median) | ' + ' | '.join(f'× transformers {d}' for d in a.dtypes) + ' |',
             '|---|---|---|---|' + '---|' * len(a.dtypes)]
    for r in rows:
        table.append(f"| {r['batch']} | {r['new_tokens']} | {r['impl']} | {r['tok_s']:.0f} | "
                     + ' | '.join(f"{r.get(f'vs transformers {d}', 1.0):.2f}" for d in a.dtypes) + ' |')
    print('\n'.join(table)); print('load average after the run:', load)
    if a.out:
        RESULTS.mkdir(exist_ok=True)
        raw = dict(machine=info, argv=sys.argv[1:], repeats=a.repeats, load_after=load, rows=rows)
        tmp = RESULTS/f'.{a.out}.json.tmp'; tmp.write_text(json.dumps(raw, indent=1)); tmp.rename(RESULTS/f'{a.out}.json')
        md = [f"# Rollout speed: {a.out}", '', f"CPU: {info['cpu']}, kind **{info['kind']}**, {torch.get_num_threads()} torch threads; "
              f"torch {info['torch']}, transformers {info['transformers']}. SmolLM2-135M-Instruct, sampling from the full "
              f"distribution, every row {R} new tokens; medians of {a.repeats} repeats in which the implementations "
              f"alternated; ratios paired within a repeat. Load average after the run: {load[0]:.1f}. "
              "*matmuls only (ceiling)*: the model's linear layers alone (`torch.nn.functional.linear` on [B, in] "
              "inputs, every layer once per new token, the best of 3), no attention, norms, sampling or Python: the "
              "tok/s no implementation on torch's CPU kernels can pass.", '',
              f"    python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}", '', *table, '']
        tmp = RESULTS/f'.{a.out}.md.tmp'; tmp.write_text('\n'.join(md)); tmp.rename(RESULTS/f'{a.out}.md')

if __name__ == '__main__': main()
