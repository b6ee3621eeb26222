"""The documentation site. `test_nbdev_processing`: a notebook goes through nbdev's processing as the docs show it
(`docs/nbproc.py`). The browser test: the site in a real browser: `_site/` (built by `docs/build_site.py`, or reused when it is newer than
its sources) served on 127.0.0.1, the home page opened in headless Chromium, and every sidebar link followed.

Each page must load, carry its title, show no broken image and link only to pages and anchors that exist.
Runs with `pytest -m browser tests/test_docs.py`; needs `playwright` (pip) and Chromium at /usr/bin/chromium
(Debian's `chromium` package) or $CHROMIUM, and skips with a message where one is missing.
"""
import contextlib, http.server, importlib.util, os, re, shutil, subprocess, sys, threading, urllib.request
from functools import partial
from pathlib import Path
from urllib.parse import urldefrag

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / '_site'
CHROMIUM = os.environ.get('CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking']


def _missing():
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        return f'no Chromium at {CHROMIUM} (apt-get install -y chromium, or set $CHROMIUM)'
    for mod in ('playwright', 'nbconvert', 'bs4', 'latex2mathml'):
        if importlib.util.find_spec(mod) is None: return f'the Python package {mod} is not installed (pip install -e ".[docs]" playwright)'
    return None


def _newest_source():
    files = [*(ROOT / 'nbs').glob('*.ipynb'), *(ROOT / 'nbs').glob('*.md'), *(ROOT / 'docs').glob('*.py'),
             *(ROOT / 'lm_ppo_nb').glob('*.py'), ROOT / 'settings.ini']
    return max(f.stat().st_mtime for f in files)


def test_nbdev_processing(tmp_path, monkeypatch):
    "Title and summary become frontmatter; exported names get their show_doc; `hide`, `echo: false`, `eval: false` apply"
    nbformat = pytest.importorskip('nbformat'); pytest.importorskip('nbdev')
    monkeypatch.chdir(ROOT); monkeypatch.syspath_prepend(str(ROOT / 'docs'))
    from nbproc import process
    new, code = nbformat.v4, nbformat.v4.new_code_cell
    nb = new.new_notebook(cells=[
        new.new_markdown_cell('# Demo\n\n> A summary'), code('#| default_exp demo'),
        code('#| export\ndef twice(x):\n    "Twice `x`."\n    return 2 * x'),
        code('#| hide\nsecret = 1'),
        code('#| echo: false\nprint("shown")', outputs=[new.new_output('stream', name='stdout', text='shown\n')]),
        code('#| eval: false\ntwice(2)')])
    nbformat.write(nb, tmp_path / 'demo.ipynb')
    out = process(tmp_path / 'demo.ipynb')
    assert {k: out.metadata['frontmatter'][k] for k in ('title', 'description')} == {'title': 'Demo', 'description': 'A summary'}
    doc, echo, ev = out.cells                       # the export, hide and default_exp cells are gone
    assert doc.cell_type == 'markdown' and '### twice' in doc.source and '*Twice `x`.*' in doc.source
    assert echo.metadata['tags'] == ['remove_input'] and echo.outputs[0]['text'] == 'shown\n'
    assert ev.source == 'twice(2)'                  # directives stripped from what the page shows


@pytest.fixture(scope='module')
def site():
    "The site folder: reused when newer than every source, else built (without its API checks, which CI runs apart)"
    if (why := _missing()): pytest.skip(why)
    index = SITE / 'index.html'
    if not index.exists() or index.stat().st_mtime < _newest_source():
        env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'MPLBACKEND': 'Agg'}
        r = subprocess.run([sys.executable, 'docs/build_site.py', '--no-check'], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert index.exists()
    return SITE


@contextlib.contextmanager
def serving(folder):
    "An HTTP server for `folder` on a free port of 127.0.0.1, in a thread; yields its base URL"
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}/'
    finally:
        srv.shutdown(); srv.server_close(); t.join()


def _ids(html): return set(re.findall(r'\sid="([^"]+)"', html))


@pytest.mark.browser
def test_every_sidebar_page_loads_with_title_and_working_links(site):
    from playwright.sync_api import sync_playwright
    with serving(site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            resp = page.goto(base + 'index.html')
            assert resp.ok, resp.status
            assert page.title().startswith('lm_ppo'), page.title()
            sidebar = page.eval_on_selector_all('nav.sidebar a', 'els => els.map(e => e.href)')
            assert len(sidebar) >= 10, sidebar
            ids_of, problems = {}, []

            def ids(url):                      # ids of a page of the site (fetched once); other files must load
                if url not in ids_of:
                    with urllib.request.urlopen(url) as r:
                        body = r.read()
                        ids_of[url] = _ids(body.decode()) if url.endswith(('.html', '/')) else set()
                return ids_of[url]

            for url in sidebar:
                assert url.startswith(base), url
                resp = page.goto(url)
                name = url[len(base):]
                if not resp.ok: problems.append(f'{name}: HTTP {resp.status}'); continue
                h1 = page.inner_text('main h1.title').strip()
                if not h1 or not page.title().startswith(h1): problems.append(f'{name}: title {page.title()!r}, heading {h1!r}')
                ids_of[url] = set(page.eval_on_selector_all('[id]', 'els => els.map(e => e.id)'))
                broken = page.eval_on_selector_all('main img', 'els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.src)')
                problems += [f'{name}: image does not load: {b}' for b in broken]
                for href in page.eval_on_selector_all('a[href]', 'els => els.map(e => e.href)'):
                    if not href.startswith(base): continue           # pages elsewhere are not this site's to check
                    target, frag = urldefrag(href)
                    try: found = ids(target)
                    except Exception as e: problems.append(f'{name}: broken link {href} ({e})'); continue
                    if frag and frag not in found: problems.append(f'{name}: missing anchor {href}')
            assert not problems, '\n'.join(problems)
        finally:
            browser.close()
