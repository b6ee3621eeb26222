"The seed's README example, verbatim but for the model name ('gpt2' -> a local tiny GPT-2 folder)."
import numpy as np


def test_seed_readme_example(tiny_gpt2):
    gpt2 = str(tiny_gpt2)
    # imports
    import torch
    from transformers import GPT2Tokenizer
    from lm_ppo.gpt2 import GPT2HeadWithValueModel, respond_to_batch
    from lm_ppo.ppo import PPOTrainer

    # get models
    gpt2_model = GPT2HeadWithValueModel.from_pretrained(gpt2)
    gpt2_model_ref = GPT2HeadWithValueModel.from_pretrained(gpt2)
    gpt2_tokenizer = GPT2Tokenizer.from_pretrained(gpt2)

    # initialize trainer
    ppo_config = {'batch_size': 1, 'forward_batch_size': 1}
    ppo_trainer = PPOTrainer(gpt2_model, gpt2_model_ref, **ppo_config)

    # encode a query
    query_txt = "This morning I went to the "
    query_tensor = gpt2_tokenizer.encode(query_txt, return_tensors="pt")

    # get model response
    response_tensor = respond_to_batch(gpt2_model, query_tensor)
    response_txt = gpt2_tokenizer.decode(response_tensor[0, :])

    # define a reward for response
    # (this could be any reward such as human feedback or output from another model)
    reward = [torch.tensor(1.0)]

    # train model with ppo
    train_stats = ppo_trainer.step(query_tensor, response_tensor, reward)

    assert response_tensor.shape == (1, 20) and isinstance(response_txt, str)
    assert train_stats['objective/kl'] == 0.0                      # first step: policy == reference
    assert train_stats['ppo/mean_scores'] == 1.0
    assert np.isfinite(train_stats['ppo/loss/total'])
    # the update moved the policy away from the reference
    with torch.no_grad():
        ids = torch.cat([query_tensor, response_tensor], 1)
        assert not torch.allclose(gpt2_model(ids)[0], gpt2_model_ref(ids)[0])
