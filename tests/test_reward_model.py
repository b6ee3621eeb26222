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
    assert torch.allclose(back(qs, rs), rm(qs, rs), atol=0.05)        # `back` runs in bf16 where the CPU does natively
