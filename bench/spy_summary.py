"""Summarise a py-spy `--format raw` (collapsed stacks) recording of a process running PPO steps.

    py-spy record --pid PID --rate 20 --format raw -o step.raw      # while the process runs step()
    python bench/spy_summary.py step.raw [more.raw ...] > bench/results/profile_step_pyspy.txt

Prints, per file: the share of samples spent under key functions (inclusive) and the top functions by self and
inclusive samples. Samples are wall-clock samples of the active (non-idle) Python thread.
"""
from __future__ import annotations
import re, sys
from collections import Counter

KEYS = [  # (label, regex on a frame) — inclusive share
    ('step()', r'^(PPOTrainer\.)?step \('),
    ('  forward pass (policy+ref, no grad)', r'_forward_batch|batched_forward_pass'),
    ('  optimisation (train minibatches)', r'_train_minibatch|train_minibatch'),
    ('    backward', r'backward \(torch/(_tensor|autograd)'),
    ('    optimizer.step', r'(Adam|Optimizer)\.step|adam \(|_single_tensor_adam|_multi_tensor_adam'),
    ('    model forward (any)', r'LlamaForCausalLM\.forward|GPT2LMHeadModel\.forward'),
    ('      attention', r'(LlamaAttention|GPT2Attention)\.forward'),
    ('      MLP', r'(LlamaMLP|GPT2MLP)\.forward'),
    ('      RMSNorm/LayerNorm', r'LlamaRMSNorm\.forward|LayerNorm'),
    ('      lm_head (Linear called by *ForCausalLM.forward)', None),
    ('      all nn.Linear forwards', r'^Linear\.forward \('),
    ('    logprobs_from_logits', r'logprobs_from_logits'),
    ('    entropy_from_logits', r'entropy_from_logits'),
    ('    loss (ppo_loss / trl loss)', r'ppo_loss|PPOTrainer\.loss \('),
    ('  stats / bookkeeping', r'_record_stats|record_step_stats|stats_to_np|gather_stats'),
    ('generate (rollout)', r'generate \('),
]

def frames(line):
    stack, _, n = line.rstrip().rpartition(' ')
    return stack.split(';'), int(n)

def summarise(path, only_step=True):
    total, incl, self_ = 0, Counter(), Counter()
    keys = Counter()
    for line in open(path):
        if not line.strip(): continue
        fs, n = frames(line)
        if only_step and not any(re.search(KEYS[0][1], f) for f in fs): continue   # samples inside step() only
        total += n
        self_[fs[-1]] += n
        for f in set(fs): incl[f] += n
        for label, rx in KEYS:
            if rx is None:
                hit = any(re.search(r'ForCausalLM\.forward|LMHeadModel\.forward', a) and re.search(r'^(Module\._|Linear\.forward)', b)
                          and 'Linear.forward' in ''.join(fs[i + 1:i + 4]) and not any('Model.forward' in x for x in fs[i + 1:i + 4])
                          for i, (a, b) in enumerate(zip(fs, fs[1:])))
                if hit: keys[label] += n
            elif any(re.search(rx, f) for f in fs): keys[label] += n
    out = [f'== {path}: {total} samples inside step() ({total / 20:.0f} s at 20 Hz)', '', 'Inclusive share of step() samples under:']
    for label, _ in KEYS:
        out.append(f'  {label:<42} {100 * keys[label] / max(total, 1):5.1f}%')
    out += ['', 'Top 25 by self samples:']
    out += [f'  {100 * n / total:5.1f}%  {f}' for f, n in self_.most_common(25)]
    out += ['', 'Top 40 by inclusive samples:']
    out += [f'  {100 * n / total:5.1f}%  {f}' for f, n in incl.most_common(40)]
    return '\n'.join(out)

if __name__ == '__main__':
    print('\n\n'.join(summarise(p) for p in sys.argv[1:]))
