"""Regenerate README.md from nbs/index.ipynb, offline (what `nbdev_readme` does, without Quarto).

    python docs/make_readme.py           # write README.md
    python docs/make_readme.py --check   # exit 1 if README.md differs from what nbs/index.ipynb generates

The notebook goes through the same processing as its page of the site (`docs/hooks.py`: nbdev's cell directives,
nothing executed), then nbconvert's markdown exporter. Links are written for the notebook's folder, as on the site;
the README sits one folder up, so links to the other pages of nbs/ get `nbs/` in front.
"""
import sys, re, difflib
from pathlib import Path
root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / 'docs'))
from hooks import docs_notebook
from nbconvert import MarkdownExporter
from traitlets.config import Config

def readme_text(nb_path=root / 'nbs' / 'index.ipynb'):
    "README.md's text: the notebook's cells as GitHub markdown, with paths from the repository's root"
    c = Config(); c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}; c.TagRemovePreprocessor.enabled = True
    body, _ = MarkdownExporter(config=c).from_notebook_node(docs_notebook(nb_path))
    body = re.sub(r'\]\((?![a-z]+:|#|/|docs/)([^)\s]+\.(?:md|ipynb)(?:#[^)\s]*)?)\)', r'](nbs/\1)', body)
    return re.sub(r'\n{3,}', '\n\n', body.strip('\n') + '\n')

if __name__ == '__main__':
    new, readme = readme_text(), root / 'README.md'
    if '--check' in sys.argv:
        old = readme.read_text(encoding='utf-8') if readme.exists() else ''
        if old != new:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       'README.md', 'from nbs/index.ipynb'))
            print('FAIL: README.md is not what nbs/index.ipynb generates; '
                  'edit nbs/index.ipynb, then run python docs/make_readme.py')
            sys.exit(1)
        print('README.md matches nbs/index.ipynb')
    else:
        readme.write_text(new, encoding='utf-8'); print(f'wrote {readme}')
