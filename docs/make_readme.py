"""Regenerate README.md from nbs/index.ipynb, offline (what `nbdev_readme` does, without Quarto).

    python docs/make_readme.py           # write README.md
    python docs/make_readme.py --check   # exit 1 if README.md differs from what nbs/index.ipynb generates
"""
import sys, re, difflib
from pathlib import Path
root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / 'docs'))
from nbproc import process
from nbconvert import MarkdownExporter
from traitlets.config import Config

def readme_text(nb_path=root / 'nbs' / 'index.ipynb'):
    "README.md's text: the title and summary, then the notebook's cells as GitHub markdown"
    nb = process(nb_path, skip=('add_links',))   # plain code names in the README, no links to a docs host
    fm = nb.metadata['frontmatter']
    c = Config(); c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}; c.TagRemovePreprocessor.enabled = True
    body, _ = MarkdownExporter(config=c).from_notebook_node(nb)
    body = body.replace('](../docs/', '](docs/').replace('src="../docs/', 'src="docs/')   # paths from the repo root
    head = f"# {fm.get('title', '')}\n\n" + (f"> {fm['description']}\n\n" if fm.get('description') else '')
    text = head + body.strip('\n') + '\n'
    return re.sub(r'\n{3,}', '\n\n', text)

if __name__ == '__main__':
    new, readme = readme_text(), root / 'README.md'
    if '--check' in sys.argv:
        old = readme.read_text(encoding='utf-8') if readme.exists() else ''
        if old != new:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'README.md', 'from nbs/index.ipynb'))
            print('FAIL: README.md is not what nbs/index.ipynb generates; edit nbs/index.ipynb, then run python docs/make_readme.py')
            sys.exit(1)
        print('README.md matches nbs/index.ipynb')
    else:
        readme.write_text(new, encoding='utf-8'); print(f'wrote {readme}')
