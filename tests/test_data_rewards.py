import time

import pytest
import torch

from lm_ppo import data
from lm_ppo.data import QuerySampler, embedded_model_path, hub_available, review_openings
from lm_ppo.rewards import TokenCountReward, VaderReward


def test_bundled_openings():
    openings = review_openings()
    assert len(openings) >= 300
    assert len(set(openings)) == len(openings)
    assert all(3 <= len(o.split()) <= 15 for o in openings)


@pytest.fixture(scope='module')
def tokenizer(tiny_gpt2):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_gpt2)


def test_query_sampler_lengths_and_seed(tokenizer):
    openings = review_openings()
    queries = QuerySampler(openings, tokenizer, min_len=2, max_len=6, seed=3).sample(50)
    assert len(queries) == 50
    assert all(q.dtype == torch.long and q.ndim == 1 and 2 <= len(q) <= 6 for q in queries)
    assert len({len(q) for q in queries}) > 2
    again = QuerySampler(openings, tokenizer, min_len=2, max_len=6, seed=3).sample(50)
    assert [q.tolist() for q in again] == [q.tolist() for q in queries]
    other = QuerySampler(openings, tokenizer, min_len=2, max_len=6, seed=4).sample(50)
    assert [q.tolist() for q in other] != [q.tolist() for q in queries]
    decoded = QuerySampler(openings, tokenizer, seed=3).decode(queries)
    assert all(any(o.startswith(d) for o in openings) for d in decoded)


def test_vader_ranks_sentiment():
    scores = VaderReward()(['This film was'] * 2, ['great wonderful film', 'awful boring mess'])
    assert scores.dtype == torch.float32 and scores.shape == (2,)
    assert scores[0] > 0 > scores[1]


def test_token_count():
    reward = TokenCountReward('great')
    assert reward(['', ''], ['Great, great film. Greatest?', 'bad']).tolist() == [2.0, 0.0]


def test_hub_available_offline_is_fast(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    start = time.perf_counter()
    assert hub_available() is False
    assert time.perf_counter() - start < 0.5


@pytest.mark.slow
def test_embedded_model_cache(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    folder = embedded_model_path(tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]   # no temporary folder left behind
    start = time.perf_counter()
    assert embedded_model_path(tmp_path, progress=False) == folder
    assert time.perf_counter() - start < 0.1
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)
    assert tok.pad_token is not None
    ids = tok('This movie was', return_tensors='pt')
    out = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, ids['input_ids'].shape[1]:], skip_special_tokens=True)
    assert data._looks_like_english(text), text
