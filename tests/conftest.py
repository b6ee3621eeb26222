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


# --- A Hugging Face cache filled offline with tiny stand-ins under the real names the main job asks for ---------------
# huggingface_hub reads a model offline from `$HF_HUB_CACHE/models--{org}--{name}/`: `refs/main` holds a commit hash
# and `snapshots/{commit}/` the repository's files (symlinks into `blobs/`, named by content hash, as a download
# leaves them). datasets reads a dataset offline from its own cache, `$HF_HOME/datasets/{name}/{config}/{version}/
# {hash}/` (`dataset_info.json` and one Arrow file per split), which is what its builder writes there.

HUB_REVISION = '0' * 39 + '1'                                            # any 40-hex commit id
REVIEW_WORDS = ('the movie film story acting plot ending music actors cast script was is were a an and but this '
                'that it great good wonderful brilliant moving bad awful boring dull terrible i loved hated').split()


def _put_in_hub_cache(hub_cache, repo_id, folder, repo_type='model'):
    "Lay the files of `folder` out in `hub_cache` as a download of `repo_id` at revision `HUB_REVISION` would."
    import hashlib, os, shutil
    from pathlib import Path
    repo = Path(hub_cache)/f"{repo_type}s--{repo_id.replace('/', '--')}"
    snap = repo/'snapshots'/HUB_REVISION
    for f in sorted(Path(folder).rglob('*')):
        if not f.is_file(): continue
        data = f.read_bytes()
        blob = repo/'blobs'/hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists(): shutil.copyfile(f, blob)
        link = snap/f.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo/'refs').mkdir(parents=True, exist_ok=True)
    (repo/'refs'/'main').write_text(HUB_REVISION)
    return snap


def _tiny_distilbert_imdb(path):
    "A tiny random DistilBERT sentiment classifier (labels NEGATIVE/POSITIVE) with a word-piece tokenizer, saved in `path`."
    import string, torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizer
    words = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', *REVIEW_WORDS, *string.ascii_lowercase, *string.digits,
             *string.punctuation, *('##' + c for c in string.ascii_lowercase + string.digits)]
    tok = DistilBertTokenizer(vocab={w: i for i, w in enumerate(dict.fromkeys(words))}, model_max_length=512)
    cfg = DistilBertConfig(vocab_size=len(tok), dim=32, hidden_dim=64, n_layers=1, n_heads=2, max_position_embeddings=512,
                           id2label={0: 'NEGATIVE', 1: 'POSITIVE'}, label2id={'NEGATIVE': 0, 'POSITIVE': 1}, pad_token_id=0)
    torch.manual_seed(0)
    DistilBertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _imdb_reviews(n=64, seed=0):
    "`n` IMDB-shaped rows: `text` (a review of 250-600 characters, with the `<br />` line breaks IMDB has) and `label` (0/1)."
    import random
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = ''
        while len(text) < rng.randint(250, 600):
            text += ' '.join(rng.choice(REVIEW_WORDS) for _ in range(rng.randint(5, 12))).capitalize() + '. '
            if rng.random() < 0.2: text += '<br /><br />'
        rows.append({'text': text.strip(), 'label': i % 2})
    rows.append({'text': 'Too short to be a query.', 'label': 0})       # imdb_openings skips reviews of <= 200 characters
    return rows


def _put_imdb_in_datasets_cache(datasets_cache, rows):
    "Write `rows` as dataset `imdb` (config `plain_text`, split `train`) into datasets' cache, through its own builder."
    import datasets

    class Imdb(datasets.GeneratorBasedBuilder):
        BUILDER_CONFIGS = [datasets.BuilderConfig(name='plain_text', version=datasets.Version('1.0.0'))]
        def _info(self):
            return datasets.DatasetInfo(features=datasets.Features(
                {'text': datasets.Value('string'), 'label': datasets.ClassLabel(names=['neg', 'pos'])}))
        def _split_generators(self, dl_manager): return [datasets.SplitGenerator(name=datasets.Split.TRAIN)]
        def _generate_examples(self):
            for i, row in enumerate(rows): yield i, row

    builder = Imdb(cache_dir=str(datasets_cache), dataset_name='imdb', config_name='plain_text', hash=HUB_REVISION[:16])
    builder.download_and_prepare()
    return builder.cache_dir


@pytest.fixture(scope='session')
def hub_home(tmp_path_factory, tiny_gpt2):
    """An `HF_HOME` whose caches hold, under the real names, a tiny `lvwerra/gpt2-imdb` (GPT-2), a tiny
    `lvwerra/distilbert-imdb` (sentiment classifier) and an IMDB-shaped dataset `imdb`. Point `HF_HOME` at it (with
    `HF_HUB_OFFLINE=1`) in a process that has not imported huggingface_hub yet: `hub_env(hub_home)`."""
    home = tmp_path_factory.mktemp('hf_home')
    _put_in_hub_cache(home/'hub', 'lvwerra/gpt2-imdb', tiny_gpt2)
    _put_in_hub_cache(home/'hub', 'lvwerra/distilbert-imdb', _tiny_distilbert_imdb(tmp_path_factory.mktemp('models')/'distilbert'))
    _put_imdb_in_datasets_cache(home/'datasets', _imdb_reviews())
    return home


def hub_env(home, **extra):
    "The environment of a subprocess that sees `home` as its Hugging Face cache, offline."
    env = {k: v for k, v in os.environ.items() if not k.startswith(('HF_', 'HUGGINGFACE_')) and k != 'TRANSFORMERS_CACHE'}
    return {**env, 'HF_HOME': str(home), 'HF_HUB_CACHE': str(home/'hub'), 'HF_DATASETS_CACHE': str(home/'datasets'),
            'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TRANSFORMERS_NO_ADVISORY_WARNINGS': '1', **extra}
