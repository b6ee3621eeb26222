import os
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_NO_ADVISORY_WARNINGS', '1')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: long-running (minutes); run with `pytest -m slow`')
    config.addinivalue_line('markers', 'browser: drives JupyterLab in headless Chromium')


@pytest.fixture(scope='session')
def tiny_gpt2(tmp_path_factory):
    "A tiny random GPT-2 with a byte-level BPE tokenizer, saved as a folder `from_pretrained` reads."
    from lm_ppo.models import build_tiny_gpt2
    return build_tiny_gpt2(tmp_path_factory.mktemp('models')/'tiny-gpt2')
