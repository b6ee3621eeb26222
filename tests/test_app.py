"""`lm_ppo label` in a real browser: the console script serves the labelling app with Voila; headless Chromium labels.

Starts `lm_ppo label --model tiny --queries FILE --folder TMP --port FREE --no-browser` in its own process group, waits
for the HTTP server, opens the page, takes two comparisons (a key press through anywidget's key listener, a click),
switches the page to the rate style and rates two cards (a key, a click), skips the rest and trains one step; then
checks that `TMP/labels.jsonl` holds the choices and ratings, and stops the server by its process group.
Runs with `pytest -m browser tests/test_app.py`. Needs Voila and anywidget (the `app` extra) besides what
tests/test_browser.py needs; skips with a message where one is missing.
"""
import os, shutil, signal, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_util import _free_port, _missing, chromium_page  # noqa: E402

pytestmark = pytest.mark.browser

QUERIES = ['the movie was', 'this film is', 'i loved the', 'the plot was', 'a bad film', 'what a', 'the actors were', 'the ending was']
BATCH = 8


@pytest.fixture
def app(tmp_path):
    "The app served by `lm_ppo label` on a free port; yields (url, folder); the server's process group is stopped after."
    why = _missing(extra=(('voila', 'voila'), ('anywidget', 'anywidget')))
    if why: pytest.skip(f'browser test skipped: {why}')
    exe = shutil.which('lm_ppo', path=str(Path(sys.executable).parent)) or shutil.which('lm_ppo')
    cmd = [exe] if exe else [sys.executable, '-c', 'import sys; from lm_ppo.app import main; sys.exit(main())']
    (tmp_path/'queries.txt').write_text('\n'.join(QUERIES) + '\n')
    folder, port = tmp_path/'labels', _free_port()
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'),
           'JUPYTER_RUNTIME_DIR': str(tmp_path/'runtime')}
    log = open(tmp_path/'app.log', 'w')
    proc = subprocess.Popen(cmd + ['label', '--model', 'tiny', '--queries', str(tmp_path/'queries.txt'), '--folder', str(folder),
                                   '--port', str(port), '--no-browser', '--batch-size', str(BATCH), '--max-new-tokens', '8'],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url + 'api/status', timeout=2): break
            except urllib.error.HTTPError: break                    # the server answers
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f'lm_ppo label did not start:\n{(tmp_path/"app.log").read_text()[-3000:]}')
                time.sleep(0.3)
        yield url, folder, proc
    finally:
        try: os.killpg(proc.pid, signal.SIGINT)                      # Ctrl-C to the whole group: lm_ppo, voila, the kernel
        except ProcessLookupError: pass
        try: proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait(10)
        log.close()


def test_label_app_in_voila(app, tmp_path):
    from playwright.sync_api import expect
    from lm_ppo.labels import read_labels
    url, folder, proc = app
    t0 = time.time()
    timings = {}
    with chromium_page(1200, 1800) as page:
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector('.lm-ppo-compare')
        timings['page_s'] = round(time.time() - t0, 1)
        counts = page.locator('.lm-ppo-compare-counts')
        expect(counts).to_have_text(f'0 of {BATCH} answered')
        # anywidget's key listener made it into the page: the trainer is focusable and its legend is shown
        listener = page.locator('.lm-ppo-keys-listener')
        expect(listener).to_contain_text('click here for keys')
        page.locator('.lm-ppo-compare-query').click()
        expect(listener).to_contain_text('keys on')
        assert page.evaluate("document.activeElement.classList.contains('lm-ppo-ui')")
        first = page.locator('.lm-ppo-option-1 .lm-ppo-option-text').text_content()
        page.keyboard.press('2')                                              # a key: response 2 is the best
        expect(counts).to_have_text(f'1 of {BATCH} answered')
        expect(page.locator('.lm-ppo-compare-last')).to_contain_text('you picked 2')
        second = page.locator('.lm-ppo-option-0 .lm-ppo-option-text').text_content()
        page.locator('.lm-ppo-option-0 button', has_text='1 · best').click()  # a click: response 1
        expect(counts).to_have_text(f'2 of {BATCH} answered')
        expect(page.locator('.lm-ppo-compare-last')).to_contain_text('you picked 1')
        page.screenshot(path=str(tmp_path/'app-compare.png'))

        # the rate style: the cards; one rated by a key, one by a click, the rest skipped by keys; one PPO step
        page.get_by_role('button', name='rate', exact=True).click()
        expect(page.locator('.lm-ppo-compare')).to_be_hidden()
        status = page.locator('.lm-ppo-status')
        expect(status).to_contain_text(f'0 of {BATCH} labelled by you')
        expect(status).to_contain_text('idle')                               # the batch is on the page
        page.locator('.lm-ppo-status').click()                                 # focus on the trainer again (not on a box)
        page.keyboard.press('3')                                               # card 1: +1
        expect(status).to_contain_text(f'1 of {BATCH} labelled by you')
        page.locator('.lm-ppo-card-1 .lm-ppo-rewards button', has_text='−1').click()
        expect(status).to_contain_text(f'2 of {BATCH} labelled by you')
        page.locator('.lm-ppo-status').click()
        for _ in range(BATCH - 2): page.keyboard.press('s')
        expect(status).to_contain_text(f'{BATCH} of {BATCH} labelled by you ({BATCH - 2} skipped)')
        timings['labels_s'] = round(time.time() - t0 - timings['page_s'], 1)
        page.keyboard.press('t')
        expect(page.locator('.lm-ppo-stats')).to_contain_text('step 1')
        page.screenshot(path=str(tmp_path/'app-rate.png'))
        assert not errors, f'errors in the page: {errors}'
    labels = read_labels(folder/'labels.jsonl')
    choices = [l for l in labels if l.kind == 'choice']
    ratings = [l for l in labels if l.kind == 'rating']
    assert [c.label for c in choices] == [[1], [0]], choices
    assert choices[0].responses[1] == first.lstrip('…').replace('⏎ ', '\n') or choices[0].responses[1].strip() in first
    assert choices[1].responses[0] == second.lstrip('…').replace('⏎ ', '\n') or choices[1].responses[0].strip() in second
    assert sorted(r.label for r in ratings) == [-1.0, 1.0], ratings
    assert proc.poll() is None, 'the server stopped on its own'
    print(f'\napp test: {timings} · {time.time() - t0:.1f} s in the browser; {len(choices)} choices, {len(ratings)} ratings in {folder/"labels.jsonl"}')
