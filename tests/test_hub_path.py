"""The main job's Hub path, offline: the Hugging Face cache holds tiny stand-ins under the real names
(`lvwerra/gpt2-imdb`, `lvwerra/distilbert-imdb`, dataset `imdb`; see `hub_home` in conftest.py), so the code that picks
and loads the Hub's components runs without a network, in a process whose `HF_HOME` points at that cache."""
import http.server, json, subprocess, sys, textwrap, threading
import pandas as pd
from conftest import hub_env


def run_python(code, env, timeout=300):
    p = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    return p.stdout


def test_auto_choices_pick_the_hub_components(hub_home):
    "With the Hub reachable, 'auto' picks the Hub's policy, reward and queries; each loads from the cache and works."
    out = run_python('''
        import json, torch
        import lm_ppo.data, lm_ppo.rewards
        from lm_ppo.data import choose_policy, choose_queries, imdb_openings
        from lm_ppo.rewards import choose_reward, PipelineReward
        assert not lm_ppo.data.hub_available()                       # HF_HUB_OFFLINE=1: the probe says no at once
        lm_ppo.data.hub_available = lm_ppo.rewards.hub_available = lambda timeout=2.0: True   # as if it answered
        name, why_policy = choose_policy('auto')
        reward, why_reward = choose_reward('auto')
        texts, why_queries = choose_queries('auto')
        scores = reward(texts[:3], [' a great film', ' awful', ''])
        from transformers import AutoTokenizer
        from lm_ppo.models import AutoModelForCausalLMWithValueHead
        model = AutoModelForCausalLMWithValueHead.from_pretrained(name)
        tok = AutoTokenizer.from_pretrained(name)
        print(json.dumps(dict(name=name, why=[why_policy, why_reward, why_queries], reward=type(reward).__name__,
                              reward_model=reward.model, labels=list(reward.pipe.model.config.id2label.values()),
                              scores=scores.tolist(), n=len(texts), shortest=min(map(len, texts)),
                              br=sum('<br' in t for t in texts), same=texts == choose_queries('imdb')[0] == imdb_openings(),
                              model=type(model.pretrained_model).__name__, vocab=len(tok))))
        try: PipelineReward(label='NEUTRAL').pipe
        except ValueError as e: print(json.dumps(dict(bad_label=str(e))))
        import sys; sys.modules['datasets'] = None                     # as if `datasets` were not installed
        bundled, why = choose_queries('auto')
        try: imdb_openings()
        except ImportError as e: print(json.dumps(dict(bundled=bundled == lm_ppo.data.review_openings(), why_bundled=why, hint=str(e))))
    ''', hub_env(hub_home))
    r = {k: v for line in out.strip().splitlines() if line.startswith('{') for k, v in json.loads(line).items()}
    assert r['name'] == 'lvwerra/gpt2-imdb' and r['model'] == 'GPT2LMHeadModel' and r['vocab'] == 320
    assert all('Hub is reachable' in w for w in r['why']), r['why']
    assert r['reward'] == 'PipelineReward' and r['reward_model'] == 'lvwerra/distilbert-imdb'
    assert r['labels'] == ['NEGATIVE', 'POSITIVE'] and len(r['scores']) == 3
    assert r['n'] == 64 and r['shortest'] > 200 and r['br'] == 0 and r['same']   # the short review is left out
    assert '`label`' in r['bad_label'] and "'POSITIVE'" in r['bad_label'] and 'NEUTRAL' in r['bad_label']
    assert r['bundled'] and '`datasets` package is not installed' in r['why_bundled'] and 'pip install datasets' in r['hint']


def test_train_on_the_hub_components(hub_home, tmp_path):
    "`train` with the main job's Hub choice, in quick mode: every step runs, and the files are written."
    out_dir = tmp_path/'run'
    out = run_python(f'''
        from lm_ppo.train import train, TrainConfig, QUICK
        res = train(TrainConfig(model='lvwerra/gpt2-imdb', reward='distilbert', queries='imdb', out_dir={str(out_dir)!r}, **QUICK),
                    progress=False)
        print('trained on', res.model.pretrained_model.config._name_or_path)
    ''', hub_env(hub_home))
    assert 'Using lvwerra/gpt2-imdb, as asked.' in out and 'lvwerra/distilbert-imdb' in out and 'IMDB' in out, out
    h = pd.read_csv(out_dir/'history.csv')
    assert list(h.step) == [1, 2, 3] and h[['reward', 'kl', 'value_loss']].notna().all().all()
    t = pd.read_csv(out_dir/'before_after.csv')
    assert len(t) == 4 and t['reward (before)'].notna().all() and t['reward (after)'].notna().all()
    assert json.loads((out_dir/'config.json').read_text())['model'] == 'lvwerra/gpt2-imdb'
    assert (out_dir/'model'/'value_head.safetensors').exists() and (out_dir/'curve.png').exists()


class _Hub(http.server.BaseHTTPRequestHandler):
    "Answers the probe's HEAD request for gpt2 like the Hub does."
    def do_HEAD(self):
        self.send_response(200 if self.path == '/api/models/gpt2' else 404); self.end_headers()
    def log_message(self, *args): pass


def test_hub_available_asks_the_endpoint(monkeypatch):
    "The probe: True when `HF_ENDPOINT` answers, False when nothing listens or the environment says offline."
    import lm_ppo.data
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for k in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): monkeypatch.delenv(k, raising=False)
        for k in ('no_proxy', 'NO_PROXY'): monkeypatch.setenv(k, '*')    # a proxy, if one is set, must not answer for us
        monkeypatch.setenv('HF_ENDPOINT', f'http://127.0.0.1:{server.server_address[1]}/')
        monkeypatch.setattr(lm_ppo.data, '_hub_answer', None)
        assert lm_ppo.data.hub_available(timeout=10)
        monkeypatch.setenv('HF_HUB_OFFLINE', '1')
        assert not lm_ppo.data.hub_available()                     # offline wins over the cached answer
    finally: server.shutdown(); server.server_close()
    monkeypatch.delenv('HF_HUB_OFFLINE')
    monkeypatch.setattr(lm_ppo.data, '_hub_answer', None)            # ask again: nothing listens there now
    assert not lm_ppo.data.hub_available(timeout=10)
