"A learned reward model from the shell: `lm_ppo_train --reward model:PATH` trains the tiny GPT-2 on it."
import os, subprocess, sys
import numpy as np
import pandas as pd


def test_shell_command_with_a_reward_model(tmp_path, tiny_gpt2):
    from lm_ppo.reward_model import RewardModel
    from lm_ppo.labels import Label
    rm = RewardModel.from_backbone(tiny_gpt2)
    rm.fit([Label.choice('the film', [' was great', ' was bad'], 0), Label.choice('a plot', [' i loved', ' i hated'], 0)], progress=False)
    path = rm.save_pretrained(tmp_path/'rm')
    out = tmp_path/'run'
    cmd = [sys.executable, '-m', 'lm_ppo.train', '--quick', '--model', str(tiny_gpt2), '--reward', f'model:{path}',
           '--queries', 'bundled', '--out-dir', str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'HF_HUB_OFFLINE': '1'}, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert f'learned reward model in {path}' in p.stdout                 # says which reward it chose
    h = pd.read_csv(out/'history.csv')
    assert list(h.step) == [1, 2, 3] and np.isfinite(h.reward).all()


def test_reward_model_reading_several_layers_round_trip(tmp_path, tiny_gpt2):
    "A reward model that sums two layers' states (a wider head) fits, saves, and comes back through `reward='model:PATH'` with the same scores."
    import torch
    from lm_ppo.reward_model import RewardModel
    from lm_ppo.rewards import choose_reward
    from lm_ppo.labels import Label
    rm = RewardModel.from_backbone(tiny_gpt2, pool='sum', layer=[0, -1], dtype=torch.float32)
    assert rm.head.in_features == 2 * rm.model.config.hidden_size
    rm.fit([Label.choice('the film', [' was great', ' was bad'], 0), Label.choice('a plot', [' i loved', ' i hated'], 0)], progress=False)
    path = rm.save_pretrained(tmp_path/'rm')
    back, why = choose_reward(f'model:{path}')
    assert isinstance(back, RewardModel) and (back.pool, back.layer) == ('sum', [0, -1])
    qs, rs = ['the film', 'a plot', 'what'], [' was great', ' i hated', ' a day']
    assert torch.allclose(back(qs, rs), rm(qs, rs), atol=0.05)        # `back` runs in the precision choose_precision picks (bf16 where native and faster)


def test_live_learner_saved_and_trained_on_in_a_fresh_process(tmp_path, tiny_gpt2):
    "The reward model a RewardLearner fits live (head, ensemble members, normalisation: all in its RewardModel) saves with "
    "save_pretrained, scores the same in a fresh process, and `lm_ppo_train --reward model:PATH --precision fp32` trains on it in float32."
    import json, torch
    from lm_ppo.reward_model import RewardModel
    from lm_ppo.learner import RewardLearner
    from lm_ppo.labels import SimulatedLabeller
    from lm_ppo.rewards import TokenCountReward
    words = 'the film was a good great bad boring plot'.split()
    groups = [[' ' + ' '.join(words[(i * 7 + j * 3 + k) % len(words)] for k in range(2 + j)) for j in range(4)] for i in range(30)]
    labels = SimulatedLabeller(TokenCountReward('good')).choose([f'review {i}:' for i in range(30)], groups)
    learner = RewardLearner(RewardModel.from_backbone(tiny_gpt2, pool='mean', dtype=torch.float32), l2=1e-2)
    learner.add(*labels)
    assert learner.wait(120) and learner.fitted and learner.error is None
    path = learner.rm.save_pretrained(tmp_path/'live')
    qs, rs = ['the film', 'a plot', 'what'], [' good good', ' bad plot', ' the was']
    code = ("import json, sys; from lm_ppo.rewards import choose_reward; fn, why = choose_reward(sys.argv[1], 'fp32'); "
            "print(json.dumps([fn(*json.loads(sys.argv[2])).tolist(), fn.spread(*json.loads(sys.argv[2])).tolist(), str(fn.dtype)]))")
    p = subprocess.run([sys.executable, '-c', code, f'model:{path}', json.dumps([qs, rs])], capture_output=True, text=True,
                       env={**os.environ, 'HF_HUB_OFFLINE': '1'}, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    scores, spread, dtype = json.loads(p.stdout.strip().splitlines()[-1])
    want, want_spread = learner.scores(qs, rs, spread=True)
    assert dtype == 'torch.float32'
    assert torch.allclose(torch.tensor(scores), want, atol=1e-4) and torch.allclose(torch.tensor(spread), want_spread, atol=1e-4)
    out = tmp_path/'run'
    cmd = [sys.executable, '-m', 'lm_ppo.train', '--quick', '--model', str(tiny_gpt2), '--reward', f'model:{path}', '--precision', 'fp32',
           '--queries', 'bundled', '--out-dir', str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'HF_HUB_OFFLINE': '1'}, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert f'learned reward model in {path}' in p.stdout and "scores in float32 (precision 'fp32', as asked.)" in p.stdout, p.stdout
    h = pd.read_csv(out/'history.csv')
    assert list(h.step) == [1, 2, 3] and np.isfinite(h.reward).all()
