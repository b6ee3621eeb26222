"The main job's pipeline in quick mode, from the shell, on the real embedded model with the offline reward."
import os, subprocess, sys
import numpy as np
import pandas as pd


def test_quick_mode_from_the_shell(tmp_path):
    out = tmp_path/'run'
    env = {**os.environ, 'HF_HUB_OFFLINE': '1'}
    cmd = [sys.executable, '-m', 'lm_ppo.train', '--quick', '--model', 'embedded', '--reward', 'vader',
           '--queries', 'bundled', '--out-dir', str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert 'SmolLM2' in p.stdout or 'embedded' in p.stdout.lower()   # says which policy it chose
    assert 'mean reward, first' in p.stdout
    h = pd.read_csv(out/'history.csv')
    assert list(h.step) == [1, 2, 3]
    assert h.kl[0] == 0 and np.isfinite(h.kl).all() and (h.kl[1:] != 0).all()  # the policy moved, KL finite
    t = pd.read_csv(out/'before_after.csv')
    assert len(t) == 4 and t['reward (before)'].between(-1, 1).all()
    assert (out/'curve.png').stat().st_size > 10_000
    assert (out/'model'/'value_head.safetensors').exists() and (out/'model'/'tokenizer.json').exists()
