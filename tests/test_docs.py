"""The documentation site (mkdocs.yml, docs/hooks.py).

- `test_docs_notebook`: a notebook as its page shows it: nbdev's and Quarto's cell directives applied, nothing run.
- `test_strict_build_fails_on_broken_links`: a small site built with this project's MkDocs configuration passes
  `mkdocs build --strict`, and fails it once a notebook links to a missing anchor of a guide, or a guide to a missing
  anchor of a notebook (links that MkDocs itself does not see: mkdocs-jupyter renders notebooks to HTML).
- The browser test: `_site/` (built by `mkdocs build --strict`, or reused when it is newer than its sources) served
  on 127.0.0.1, the home page opened in headless Chromium, and every link of the navigation followed: each page must
  load, carry its title, show no broken image and link only to pages and anchors that exist.
  Runs with `pytest -m browser tests/test_docs.py`; needs `playwright` (pip) and Chromium at /usr/bin/chromium
  (Debian's `chromium` package) or $CHROMIUM, and skips with a message where one is missing.
"""
import contextlib, http.server, importlib.util, json, os, re, shutil, subprocess, sys, threading, urllib.request
from functools import partial
from pathlib import Path
from urllib.parse import urldefrag

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / '_site'
CHROMIUM = os.environ.get('CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking']
ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'MPLBACKEND': 'Agg', 'NO_MKDOCS_2_WARNING': '1'}


def _missing():
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        return f'no Chromium at {CHROMIUM} (apt-get install -y chromium, or set $CHROMIUM)'
    for mod in ('playwright', 'mkdocs', 'material', 'mkdocs_jupyter', 'mkdocstrings_handlers'):
        if importlib.util.find_spec(mod) is None:
            return f'the Python package {mod} is not installed (pip install -e ".[docs]" playwright)'
    return None


def _newest_source():
    files = [*(ROOT / 'nbs').glob('*.ipynb'), *(ROOT / 'nbs').glob('*.md'), *(ROOT / 'docs').rglob('*.*'),
             *(ROOT / 'lm_ppo_nb').glob('*.py'), ROOT / 'settings.ini', ROOT / 'mkdocs.yml']
    return max(f.stat().st_mtime for f in files)


def _hooks():
    pytest.importorskip('mkdocs'); pytest.importorskip('nbdev')
    sys.path.insert(0, str(ROOT / 'docs'))
    try: import hooks
    finally: sys.path.remove(str(ROOT / 'docs'))
    return hooks


def test_docs_notebook(tmp_path):
    "`#| hide` and `#| default_exp` cells go; directive lines go; `echo: false` hides the input; exports are shown"
    nbformat = pytest.importorskip('nbformat')
    hooks = _hooks()
    new, code = nbformat.v4, nbformat.v4.new_code_cell
    nb = new.new_notebook(cells=[
        new.new_markdown_cell('# Demo\n\n> A summary\n\n![a picture](../docs/x.png)'), code('#| default_exp demo'),
        code('#| export\ndef twice(x):\n    "Twice `x`."\n    return 2 * x'),
        code('#| hide\nsecret = 1'),
        code('#| echo: false\nprint("shown")', outputs=[new.new_output('stream', name='stdout', text='shown\n')]),
        code('#| eval: false\ntwice(2)'), code('#| include: false\nhidden = 2')])
    nbformat.write(nb, tmp_path / 'demo.ipynb')
    out = hooks.docs_notebook(tmp_path / 'demo.ipynb')
    title, export, echo, ev = out.cells
    assert title.source == '# Demo\n\n> A summary\n\n![a picture](docs/x.png)'     # docs/ as the site serves it
    assert export.source.startswith('def twice(x):')
    assert echo.metadata['tags'] == ['remove_input'] and echo.outputs[0]['text'] == 'shown\n'
    assert ev.source == 'twice(2)'
    assert hooks.default_exp(tmp_path / 'demo.ipynb') == 'demo'


def _small_site(tmp, nb_link, md_link):
    "A site in `tmp` with this project's mkdocs.yml: index, a notebook linking `nb_link`, a guide linking `md_link`"
    import nbformat, yaml
    nbs = tmp / 'nbs'; nbs.mkdir(exist_ok=True)
    cfg = yaml.safe_load((ROOT / 'mkdocs.yml').read_text())
    cfg.update(docs_dir=str(nbs), site_dir=str(tmp / 'site'), hooks=[str(ROOT / 'docs' / 'hooks.py')])
    (tmp / 'mkdocs.yml').write_text(yaml.safe_dump(cfg))
    md = nbformat.v4.new_markdown_cell
    for name, cells in {'index': [md('# Home\n\nSee [the example](example.ipynb).')],
                        'example': [md('# Example'), md(f'## Section one\n\nThe [guide]({nb_link}).')]}.items():
        nbformat.write(nbformat.v4.new_notebook(cells=cells), nbs / f'{name}.ipynb')
    (nbs / 'guide.md').write_text(f'---\ntitle: A guide\n---\n\n## Details\n\nBack to [the example]({md_link}).\n')
    return subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict'], cwd=tmp, env=ENV,
                          capture_output=True, text=True, timeout=300)


def test_strict_build_fails_on_broken_links(tmp_path):
    _hooks(); pytest.importorskip('mkdocs_jupyter'); pytest.importorskip('material')
    good = _small_site(tmp_path, 'guide.md#details', 'example.ipynb#section-one')
    assert good.returncode == 0, good.stderr[-3000:]
    html = (tmp_path / 'site' / 'example' / 'index.html').read_text()
    assert 'href="../guide/#details"' in html                   # the notebook's link, as the site has it
    bad = _small_site(tmp_path, 'guide.md#nowhere', 'example.ipynb#no-such-section')
    assert bad.returncode != 0
    assert "'guide.md' has no anchor '#nowhere'" in bad.stderr, bad.stderr[-3000:]
    assert "does not contain an anchor '#no-such-section'" in bad.stderr, bad.stderr[-3000:]


@pytest.fixture(scope='module')
def site():
    "The site folder: reused when newer than every source, else built by `mkdocs build --strict`"
    if (why := _missing()): pytest.skip(why)
    index = SITE / 'index.html'
    if not index.exists() or index.stat().st_mtime < _newest_source():
        r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--quiet'], cwd=ROOT, env=ENV,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert index.exists()
    return SITE


@contextlib.contextmanager
def serving(folder):
    "An HTTP server for `folder` on a free port of 127.0.0.1, in a thread; yields its base URL"
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = partial(Quiet, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}/'
    finally:
        srv.shutdown(); srv.server_close(); t.join()


def _ids(html): return set(re.findall(r'\sid="([^"]+)"', html))


@pytest.mark.browser
def test_every_page_loads_with_title_and_working_links(site):
    from playwright.sync_api import sync_playwright
    with serving(site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route(re.compile(r'^https?://(?!127\.0\.0\.1)'), lambda route: route.abort())   # offline: no CDN
            page.route('**/search/search_index.json', lambda route: route.abort())   # each page would index it anew
            resp = page.goto(base + 'index.html')
            assert resp.ok, resp.status
            assert page.title().startswith('lm_ppo'), page.title()
            pages = page.eval_on_selector_all('nav.md-nav--primary a.md-nav__link[href]', 'els => els.map(e => e.href)')
            pages = sorted({urldefrag(u)[0] for u in pages if u.startswith(base)})
            assert len(pages) >= 10, pages
            assert any('/api/' in u for u in pages), pages
            ids_of, problems = {}, []

            def ids(url):                      # ids of a page of the site (fetched once); other files must load
                if url not in ids_of:
                    with urllib.request.urlopen(url) as r:
                        body = r.read()
                        ids_of[url] = _ids(body.decode()) if url.endswith(('.html', '/')) else set()
                return ids_of[url]

            for url in pages:
                resp = page.goto(url, wait_until='load')
                name = url[len(base):]
                if not resp.ok: problems.append(f'{name}: HTTP {resp.status}'); continue
                h1 = page.inner_text('article h1').strip().rstrip('¶').strip()      # less its permalink
                if not h1 or not page.title().startswith(h1):
                    problems.append(f'{name}: title {page.title()!r}, heading {h1!r}')
                ids_of[url] = set(page.eval_on_selector_all('[id]', 'els => els.map(e => e.id)'))
                broken = page.eval_on_selector_all(
                    'article img', 'els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.src)')
                problems += [f'{name}: image does not load: {b}' for b in broken]
                for href in page.eval_on_selector_all('article a[href]', 'els => els.map(e => e.href)'):
                    if not href.startswith(base): continue           # pages elsewhere are not this site's to check
                    target, frag = urldefrag(href)
                    try: found = ids(target)
                    except Exception as e: problems.append(f'{name}: broken link {href} ({e})'); continue
                    if frag and frag not in found: problems.append(f'{name}: missing anchor {href}')
            assert not problems, '\n'.join(problems)
            index = json.loads((site / 'search' / 'search_index.json').read_text())   # Material's search
            found = {d['location'].split('#')[0] for d in index['docs'] if 'PPOTrainer' in d['text']}
            assert {'02-ppo/', 'api/ppo/', 'algorithm/'} <= found, sorted(found)
        finally:
            browser.close()
