"""PPO step throughput: one process (all cores as torch threads) against N processes under `accelerate launch`
(one thread each), on the same global batch of SmolLM2-135M samples.

    python bench/distributed_throughput.py                         # one process, torch threads = cores
    OMP_NUM_THREADS=1 accelerate launch --multi_gpu --num_processes 2 bench/distributed_throughput.py
Prints one JSON line from the main process: seconds per step (median of 3 after a warm-up) and samples/s.
"""
import json, os, statistics, sys, time, warnings
from pathlib import Path
import torch
warnings.filterwarnings('ignore')
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging
hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from lm_ppo.models import AutoModelForCausalLMWithValueHead
from lm_ppo.ppo import PPOTrainer

B, R, STEPS = int(os.environ.get('BENCH_B', 32)), int(os.environ.get('BENCH_R', 16)), 4
path = common.MODELS['SmolLM2-135M']()
tok = AutoTokenizer.from_pretrained(path)
torch.manual_seed(0)
model = AutoModelForCausalLMWithValueHead.from_pretrained(path)
t = PPOTrainer(model, None, tok, batch_size=B, forward_batch_size=32, mini_batch_size=8, ppo_epochs=2, lr=1e-4,
               precision=os.environ.get('BENCH_PRECISION', 'auto'), reuse_cpu_memory=True)
d = t.dist
special = set(tok.all_special_ids)
qs, rs, sc = common.synthetic_batch(len(tok), B, R, seed=0, special=special)   # the global batch
share = B // d.world
mine = slice(d.rank * share, (d.rank + 1) * share)
times = []
for i in range(STEPS):
    t0 = time.perf_counter()
    t.step(qs[mine], rs[mine], sc[mine])
    times.append(time.perf_counter() - t0)
if d.is_main:
    s = statistics.median(times[1:])
    print(json.dumps(dict(processes=d.world, threads=torch.get_num_threads(), precision=t.precision, B=B, R=R,
                          step_s=round(s, 2), samples_per_s=round(B / s, 2), kind=common.machine()['kind'])), flush=True)
