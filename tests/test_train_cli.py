"The main job's pipeline in quick mode, from the shell, on the real embedded model with the offline reward."
import json, os, subprocess, sys
import numpy as np
import pandas as pd


def test_quick_mode_from_the_shell(tmp_path):
    out = tmp_path/'run'
    env = {**os.environ, 'HF_HUB_OFFLINE': '1'}
    cmd = [sys.executable, '-m', 'lm_ppo.train', '--quick', '--model', 'embedded', '--reward', 'vader',
           '--queries', 'bundled', '--out-dir', str(out), '--lam', '0.9', '--cliprange', '0.15']
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
    cfg = json.loads((out/'config.json').read_text())
    assert (cfg['lam'], cfg['cliprange'], cfg['gamma']) == (0.9, 0.15, 1.0)    # PPO options as given, defaults recorded


def test_every_trainer_option_from_the_shell(capsys):
    "Each option of PPOTrainer is a flag of lm_ppo_train, and a value given there reaches the trainer's config."
    from lm_ppo.ppo import DEFAULT_CONFIG
    from lm_ppo.train import build_trainer, parse_args
    try: parse_args(['--help'])
    except SystemExit: pass
    usage = capsys.readouterr().out
    assert [k for k in DEFAULT_CONFIG if '--' + k.replace('_', '-') not in usage] == []
    given = dict(cliprange=0.1, cliprange_value=0.3, max_grad_norm=1.0, early_stop_kl=0.5, ratio_threshold=10.0,
                 gamma=0.99, lam=0.9, vf_coef=0.2, horizon=5000.0, reuse_cpu_memory=False, precision='fp32')
    argv = ['--model', 'tiny'] + [a for k, v in given.items() for a in ('--' + k.replace('_', '-'), str(v))]
    cfg = parse_args(argv)
    trainer = build_trainer(cfg.model, log=None, **cfg.ppo_config())
    assert {k: trainer.config[k] for k in given} == given
    assert trainer.config == {**DEFAULT_CONFIG, **cfg.ppo_config()}
