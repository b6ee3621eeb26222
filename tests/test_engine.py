"Engine properties beyond the notebooks' own tests: config hygiene, mixed lengths, bf16 precisions, LoRA reference."
import copy
import numpy as np
import pytest
import torch
from transformers import AutoTokenizer
from lm_ppo.models import AutoModelForCausalLMWithValueHead
from lm_ppo.ppo import PPOTrainer, DEFAULT_CONFIG
from lm_ppo.rollout import generate


@pytest.fixture
def parts(tiny_gpt2):
    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    fresh = lambda **kw: AutoModelForCausalLMWithValueHead.from_pretrained(tiny_gpt2, **kw)
    queries = [torch.tensor(tok(t).input_ids) for t in ["the movie was great", "a", "i loved the music and", "the"]]
    torch.manual_seed(0)
    responses = generate(fresh(), queries, tok, max_new_tokens=7)
    return tok, fresh, queries, responses


def test_defaults_never_mutated(parts):
    tok, fresh, *_ = parts
    before = copy.deepcopy(DEFAULT_CONFIG)
    t = PPOTrainer(fresh(), fresh(), lr=1e-3, batch_size=4)
    t.config['lr'] = 5.
    assert DEFAULT_CONFIG == before and PPOTrainer(fresh(), fresh()).config['lr'] == 1.41e-5
    with pytest.raises(TypeError, match='unknown config'):
        PPOTrainer(fresh(), fresh(), learning_rate=1e-3)


def test_tensor_and_list_inputs_agree(parts):
    "A [bs, len] tensor batch and the same batch as a list of 1-D tensors give identical stats."
    tok, fresh, queries, _ = parts
    q = torch.stack([torch.tensor(tok("the movie was").input_ids)] * 3)
    torch.manual_seed(0)
    r = torch.stack(generate(fresh(), list(q), tok, max_new_tokens=5, stop_at_eos=False))
    def run(qs, rs):
        torch.manual_seed(1)
        return PPOTrainer(fresh(), fresh(), tok, forward_batch_size=2, mini_batch_size=3).step(qs, rs, torch.tensor([1., 0., -1.]))
    a, b = run(q, r), run(list(q), list(r))
    for k in ('objective/kl', 'ppo/loss/total', 'ppo/val/vpred'):
        assert a[k] == b[k], k


@pytest.mark.parametrize('precision', ['bf16', 'bf16-autocast'])
def test_bf16_close_to_fp32(parts, precision):
    "bf16 passes change the numbers only at bf16 precision; the first-step numbers stay close to fp32's."
    tok, fresh, queries, responses = parts
    def run(precision):
        torch.manual_seed(0)
        return PPOTrainer(fresh(), fresh(), tok, precision=precision, ppo_epochs=1, mini_batch_size=4).step(queries, responses, [1., -1., 0., .5])
    a, b = run('fp32'), run(precision)
    np.testing.assert_allclose(a['objective/logprobs'], b['objective/logprobs'], atol=0.1)
    assert abs(a['ppo/loss/value'] - b['ppo/loss/value']) < 0.05 * abs(a['ppo/loss/value']) + 1e-3


def test_lora_in_bf16_trains_only_the_adapters(parts):
    "A LoRA policy in mixed precision: the reference is the bf16 copy with adapters off; only adapter weights move."
    peft = pytest.importorskip('peft')
    tok, fresh, queries, responses = parts
    model = fresh(peft_config=peft.LoraConfig(r=4, target_modules=['c_attn'], lora_dropout=0.0))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    t = PPOTrainer(model, None, tok, lr=1e-2, ppo_epochs=2, mini_batch_size=2, precision='bf16')
    s1 = t.step(queries, responses, [1., -1., 1., -1.])
    s2 = t.step(queries, responses, [1., -1., 1., -1.])
    assert s1['objective/kl'] == 0.0 and s2['objective/kl'] != 0.0
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all('lora_' in n or 'v_head' in n for n in moved), sorted(moved)[:5]


def test_lora_policy_uses_itself_as_reference(parts):
    peft = pytest.importorskip('peft')
    tok, fresh, queries, responses = parts
    model = fresh(peft_config=peft.LoraConfig(r=4, target_modules=['c_attn'], lora_dropout=0.0))
    t = PPOTrainer(model, None, tok, lr=1e-2, ppo_epochs=2, mini_batch_size=2)
    assert t.ref_model is None
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n_trainable < sum(p.numel() for p in model.parameters()) / 5
    s1 = t.step(queries, responses, [1., -1., 1., -1.])
    s2 = t.step(queries, responses, [1., -1., 1., -1.])
    assert s1['objective/kl'] == 0.0 and s2['objective/kl'] != 0.0  # adapters moved away from the base


def test_models_stay_on_their_device(parts):
    tok, fresh, queries, responses = parts
    t = PPOTrainer(fresh(), fresh(), tok)
    t.step(queries, responses, [0.] * 4)
    assert t.device.type == 'cpu' and all(p.device.type == 'cpu' for p in t.model.parameters())


def test_lora_resume_is_exact(parts, tmp_path):
    "A LoRA policy saved (adapters + value head + trainer state) and loaded into a fresh trainer continues bit for bit."
    peft = pytest.importorskip('peft')
    tok, fresh, queries, responses = parts
    def trainer():
        torch.manual_seed(0)
        model = fresh(peft_config=peft.LoraConfig(r=4, target_modules=['c_attn'], lora_dropout=0.0))
        return PPOTrainer(model, None, tok, lr=1e-2, ppo_epochs=2, mini_batch_size=2, precision='fp32')
    a = trainer(); a.step(queries, responses, [1., -1., 1., -1.])
    a.save(tmp_path/'ckpt')
    assert (tmp_path/'ckpt'/'adapter_model.safetensors').exists() and not list((tmp_path/'ckpt').glob('*.pt'))
    b = trainer().load(tmp_path/'ckpt')
    for t in (a, b): t.step(queries, responses, [0., 1., -1., 1.])
    for (n, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()): assert torch.equal(p, q), n
