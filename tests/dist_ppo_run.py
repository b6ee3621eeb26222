"""A PPO run on the tiny GPT-2 for the data-parallel tests: launched by `accelerate launch` (each process holds its
share of the global batch) or as one plain process (the whole global batch). Writes per-process results to OUT.

    accelerate launch --multi_gpu --num_processes 2 tests/dist_ppo_run.py OUT MODEL [--lora] [--toy] [--steps N]
    python tests/dist_ppo_run.py OUT MODEL            # one process, the same global batch
"""
import argparse, json
from pathlib import Path
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer
from lm_ppo.models import AutoModelForCausalLMWithValueHead
from lm_ppo.ppo import PPOTrainer
from lm_ppo.rollout import generate

TEXTS = ["the movie was", "a bad film", "i loved the", "the plot was", "what a", "this film is", "the actors were", "a good"]

def checksum(model):
    "Bitwise fingerprint of every weight: the float64 sum and the sum of the raw bytes' values."
    with torch.no_grad():
        return [float(sum(p.double().sum() for p in model.parameters())),
                int(sum(p.detach().contiguous().view(torch.uint8).long().sum() for p in model.parameters()))]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out'); ap.add_argument('model')
    ap.add_argument('--lora', action='store_true'); ap.add_argument('--toy', action='store_true')
    ap.add_argument('--steps', type=int, default=2); ap.add_argument('--precision', default='fp32')
    ap.add_argument('--sgd', action='store_true', help='plain SGD instead of Adam (see test_distributed.py)')
    a = ap.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(a.model)
    kw = {}
    if a.lora:
        import peft
        kw['peft_config'] = peft.LoraConfig(r=4, target_modules=['c_attn'], lora_dropout=0.0)
    torch.manual_seed(0)
    model = AutoModelForCausalLMWithValueHead.from_pretrained(a.model, **kw)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1) if a.sgd else None
    t = PPOTrainer(model, None, tok, optimizer=opt, lr=3e-3, mini_batch_size=4, forward_batch_size=2, ppo_epochs=2,
                   init_kl_coef=0.05, precision=a.precision)
    d = t.dist
    queries = [torch.tensor(tok(x).input_ids) for x in TEXTS]             # the global batch: 8 samples
    torch.manual_seed(0)
    responses = generate(AutoModelForCausalLMWithValueHead.from_pretrained(a.model), queries, tok, max_new_tokens=6)
    share = len(queries) // d.world
    mine = slice(d.rank * share, (d.rank + 1) * share)
    target = tok(" the").input_ids[0]
    rows = []
    for step in range(a.steps):
        if a.toy:                                                         # each process samples its own responses
            torch.manual_seed(1000 * step + d.rank)
            q = queries[mine]
            r = generate(t.compute_model, q, tok, max_new_tokens=8, stop_at_eos=False)
            s = torch.stack([(x == target).sum().float() for x in r])
        else:
            q, r = queries[mine], responses[mine]
            s = torch.tensor([1., -1., .5, 0., 2., -.5, 1., -2.])[mine] * (step + 1)
        st = t.step(q, r, s)
        rows.append(dict(step=step, checksum=checksum(t.model), kl=st['objective/kl'], mean_scores=st['ppo/mean_scores'],
                         std_scores=st['ppo/std_scores'], kl_coef=t.kl_ctl.value, minibatches=st['ppo/minibatches'],
                         local_reward=float(s.mean())))
    (out/f'rank{d.rank}.json').write_text(json.dumps(dict(world=d.world, rows=rows)))
    save_file({k: v.detach().clone().contiguous() for k, v in t.model.state_dict().items()}, str(out/f'weights{d.rank}.safetensors'))
    t.save(out/'ckpt')                                                    # the main process writes; the others wait

if __name__ == '__main__': main()
