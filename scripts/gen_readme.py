"""README.rst and static/description/index.html of the add-on, from its readme/ fragments and manifest.

`make readme` runs it. OCA generates these files with oca-gen-addon-readme (OCA/maintainer-tools), which is on no
package index; this script writes the same layout: the manifest's name, badges, DESCRIPTION, the table of contents,
the sections of the other fragments (Markdown converted with pandoc, as OCA does), bug tracker and credits; the
source digest over the manifest and readme/ (same definition, so either tool recognises the other's output); the
Apps page rendered from README.rst by docutils with the settings OCA uses. Images of static/description get an
absolute URL in README.rst (GitHub, PyPI) and stay relative in index.html (Odoo serves them itself).

    python scripts/gen_readme.py [--addon-dir receivable_dunning] [--if-source-changed] [--keep-source-digest]
"""

import argparse
import ast
import hashlib
import re
import sys
from pathlib import Path

import pypandoc
from docutils.core import publish_file, publish_string
from docutils.utils import SystemMessage

REPO_ROOT = Path(__file__).resolve().parent.parent

# (fragment, section title, heading level of the fragment's section: 2 under the title, 3 under Credits)
SECTIONS = [
    ("CONTEXT", "Use Cases / Context", 2),
    ("INSTALL", "Installation", 2),
    ("CONFIGURE", "Configuration", 2),
    ("USAGE", "Usage", 2),
    ("DEVELOP", "Development", 2),
    ("ROADMAP", "Known issues / Roadmap", 2),
    ("HISTORY", "Changelog", 2),
]
CREDIT_SECTIONS = [("CONTRIBUTORS", "Contributors", 3), ("CREDITS", "Other credits", 3)]
FRAGMENT_LEVELS = {name: level for name, _title, level in [("DESCRIPTION", "", 2), *SECTIONS, *CREDIT_SECTIONS]}

# GitHub-flavoured Markdown without raw HTML, and without automatic heading anchors (unreferenced targets).
MARKDOWN = "gfm-raw_html-gfm_auto_identifiers"

MATURITY_BADGES = {
    "alpha": ("Alpha", "red"),
    "beta": ("Beta", "yellow"),
    "production/stable": ("Production%2FStable", "green"),
    "mature": ("Mature", "brightgreen"),
}
LICENSES = {
    "AGPL-3": "http://www.gnu.org/licenses/agpl-3.0-standalone.html",
    "LGPL-3": "http://www.gnu.org/licenses/lgpl-3.0-standalone.html",
    "GPL-3": "http://www.gnu.org/licenses/gpl-3.0-standalone.html",
}

# docutils settings of the rendering check and of index.html: no file inclusion nor raw HTML, stop on any warning.
RST_SETTINGS = {
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "halt_level": 2,
    "report_level": 2,
    "math_output": "MathJax",
    "smart_quotes": True,
    "syntax_highlight": "short",
    "xml_declaration": False,
    "output_encoding": "utf-8",
}

DIGEST_RE = re.compile(r"!! source digest: (?P<digest>sha256:\w+)")
IMAGE_RE = re.compile(r"^(?P<prefix>.*\.\. (?:\|[^|]+\| )?(?:image|figure)::\s+)(?P<path>\S+)\s*$")


def source_digest(addon_dir):
    """sha256 over the manifest and every file of readme/: each file's path (relative to the add-on) and content."""
    files = [addon_dir / "__manifest__.py", *sorted(p for p in (addon_dir / "readme").rglob("*") if p.is_file())]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(addon_dir)).encode())
        digest.update(path.read_bytes())
    return f"sha256:{digest.hexdigest()}"


def fragment_rst(addon_dir, name, raw_url):
    """The fragment readme/NAME.rst as is, or readme/NAME.md converted; None when absent or empty."""
    md_path, rst_path = addon_dir / "readme" / f"{name}.md", addon_dir / "readme" / f"{name}.rst"
    if md_path.exists() and rst_path.exists():
        sys.exit(f"both {md_path} and {rst_path} exist: keep one")
    if rst_path.exists():
        text = rst_path.read_text(encoding="utf-8")
    elif md_path.exists():
        text = pypandoc.convert_text(
            md_path.read_text(encoding="utf-8"),
            "rst",
            format=MARKDOWN,
            extra_args=[f"--shift-heading-level-by={FRAGMENT_LEVELS[name] - 2}"],
            sandbox=True,
        )
    else:
        return None
    if not text.strip():
        return None
    lines = []
    for line in text.splitlines():
        match = IMAGE_RE.match(line)
        if match and not re.match(r"^[a-z]+://", match["path"]):
            lines.append(match["prefix"] + raw_url + match["path"].removeprefix("../").removeprefix("./"))
        else:
            lines.append(line.rstrip())
    return "\n".join(lines).strip("\n") + "\n"


def heading(title, char, overline=False):
    rule = char * len(title)
    return f"{rule}\n{title}\n{rule}\n" if overline else f"{title}\n{rule}\n"


def github_of(manifest):
    match = re.match(r"^https://github\.com/([^/]+)/([^/#?]+)", manifest.get("website", ""))
    return (match[1], match[2]) if match else (None, None)


def render(addon_dir, manifest, org, repo, branch, digest):
    addon = addon_dir.name
    raw_url = f"https://raw.githubusercontent.com/{org}/{repo}/{branch}/{addon}/"
    fragments = {name: fragment_rst(addon_dir, name, raw_url) for name in FRAGMENT_LEVELS}
    out = [heading(manifest["name"], "=", overline=True)]
    notice = [
        "This file is generated by scripts/gen_readme.py (make readme),",
        "in the format of oca-gen-addon-readme: changes will be overwritten.",
    ]
    width = max(len(line) for line in notice) + 6
    out.append(
        "..\n   "
        + "!" * width
        + "\n"
        + "".join(f"   !! {line.ljust(width - 6)} !!\n" for line in notice)
        + "   "
        + "!" * width
        + f"\n   !! source digest: {digest}\n   "
        + "!" * width
        + "\n"
    )
    badges = []
    status = manifest.get("development_status", "Beta").lower()
    if status in MATURITY_BADGES:
        label, colour = MATURITY_BADGES[status]
        badges.append(
            (
                f"https://img.shields.io/badge/maturity-{label}-{colour}.png",
                "https://odoo-community.org/page/development-status",
                label.replace("%2F", "/"),
            )
        )
    license_ = manifest.get("license")
    if license_ in LICENSES:
        badges.append(
            (
                f"https://img.shields.io/badge/license-{license_.replace('-', '--')}-blue.png",
                LICENSES[license_],
                f"License: {license_}",
            )
        )
    repo_badge = f"github-{org.replace('-', '--')}%2F{repo.replace('-', '--')}-lightgray.png?logo=github"
    badges.append(
        (
            f"https://img.shields.io/badge/{repo_badge}",
            f"https://github.com/{org}/{repo}/tree/{branch}/{addon}",
            f"{org}/{repo}",
        )
    )
    out.append(
        "".join(
            f".. |badge{index}| image:: {image}\n    :target: {target}\n    :alt: {alt}\n"
            for index, (image, target, alt) in enumerate(badges, 1)
        )
    )
    out.append(" ".join(f"|badge{index}|" for index in range(1, len(badges) + 1)) + "\n")
    if fragments["DESCRIPTION"]:
        out.append(fragments["DESCRIPTION"])
    if status == "alpha":
        out.append(
            ".. IMPORTANT::\n"
            "   This is an alpha version, the data model and design can change at any time without warning.\n"
            "   Only for development or testing purpose, do not use in production.\n"
            "   `More details on development status <https://odoo-community.org/page/development-status>`_\n"
        )
    out.append("**Table of contents**\n\n.. contents::\n   :local:\n")
    for name, title, _level in SECTIONS:
        if fragments[name]:
            out.append(heading(title, "=") + "\n" + fragments[name])
    out.append(
        heading("Bug Tracker", "=")
        + f"\nBugs are tracked on `GitHub Issues <https://github.com/{org}/{repo}/issues>`_.\n"
        "In case of trouble, please check there if your issue has already been reported.\n"
        "If you spotted it first, help us to smash it by providing a detailed and welcomed\n"
        f"`feedback <https://github.com/{org}/{repo}/issues/new?body=module:%20{addon}%0Aversion:%20{branch}"
        "%0A%0A**Steps%20to%20reproduce**%0A-%20...%0A%0A**Current%20behavior**%0A%0A**Expected%20behavior**>`_.\n"
        "\nDo not contact contributors directly about support or help with technical issues.\n"
    )
    credits_ = [heading("Credits", "=")]
    authors = [author.strip() for author in manifest.get("author", "").split(",") if author.strip()]
    if authors:
        credits_.append(heading("Authors", "-") + "\n" + "".join(f"* {author}\n" for author in authors))
    for name, title, _level in CREDIT_SECTIONS:
        if fragments[name]:
            credits_.append(heading(title, "-") + "\n" + fragments[name])
    maintainers = manifest.get("maintainers", [])
    block = heading("Maintainers", "-")
    if maintainers:
        block += "\n" + "".join(
            f".. |maintainer-{login}| image:: https://github.com/{login}.png?size=40px\n"
            f"    :target: https://github.com/{login}\n    :alt: {login}\n"
            for login in maintainers
        )
        block += f"\nCurrent maintainer{'s' if len(maintainers) > 1 else ''}:\n\n"
        block += " ".join(f"|maintainer-{login}|" for login in maintainers) + "\n"
    block += (
        f"\nThis module is part of the `{org}/{repo} <https://github.com/{org}/{repo}/tree/{branch}/{addon}>`_"
        " project on GitHub.\n\nYou are welcome to contribute.\n"
    )
    credits_.append(block)
    out.append("\n".join(credits_))
    return "\n".join(out), raw_url


def write_index(addon_dir, readme_path, raw_url):
    index_path = addon_dir / "static" / "description" / "index.html"
    index_path.parent.mkdir(parents=True, exist_ok=True)
    publish_file(
        source_path=str(readme_path),
        destination_path=str(index_path),
        writer_name="html4css1",
        settings_overrides=RST_SETTINGS,
    )
    html = index_path.read_text(encoding="utf-8")
    # No docutils version in the page (no diff when it changes); the add-on's own images served by Odoo.
    html = re.sub(r'(<meta name="generator" content="Docutils)\s*[\d.]+[^"]*', r"\1", html)
    html = html.replace(f'src="{raw_url}static/description/', 'src="')
    index_path.write_text(html, encoding="utf-8")
    return index_path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--addon-dir", default=str(REPO_ROOT / "receivable_dunning"))
    parser.add_argument("--org-name", help="GitHub organisation (default: from the manifest's website)")
    parser.add_argument("--repo-name", help="GitHub repository (default: from the manifest's website)")
    parser.add_argument("--branch", help="Odoo series (default: from the manifest's version)")
    parser.add_argument(
        "--if-source-changed", action="store_true", help="do nothing when the digest in README.rst is current"
    )
    parser.add_argument(
        "--keep-source-digest",
        action="store_true",
        help="keep the digest found in README.rst, so that a change of the manifest alone gives no diff",
    )
    args = parser.parse_args()
    addon_dir = Path(args.addon_dir).resolve()
    manifest = ast.literal_eval((addon_dir / "__manifest__.py").read_text(encoding="utf-8"))
    if not any((addon_dir / "readme" / f"DESCRIPTION.{ext}").exists() for ext in ("md", "rst")):
        sys.exit(f"{addon_dir}/readme has no DESCRIPTION.md")
    site_org, site_repo = github_of(manifest)
    org, repo = args.org_name or site_org, args.repo_name or site_repo
    if not (org and repo):
        sys.exit("no GitHub repository in the manifest's website: give --org-name and --repo-name")
    branch = args.branch or ".".join(manifest["version"].split(".")[:2])

    readme_path = addon_dir / "README.rst"
    digest = source_digest(addon_dir)
    current = readme_path.read_text(encoding="utf-8") if readme_path.exists() else ""
    found = DIGEST_RE.search(current)
    if args.if_source_changed and found and found["digest"] == digest:
        return
    if args.keep_source_digest and found:
        digest = found["digest"]
    text, raw_url = render(addon_dir, manifest, org, repo, branch, digest)
    # Render it once before writing anything: any docutils warning stops here (halt_level 2).
    try:
        publish_string(text, writer_name="html4css1", settings_overrides=RST_SETTINGS)
    except SystemMessage as error:
        numbered = "\n".join(f"{number:4} {line}" for number, line in enumerate(text.splitlines(), 1))
        sys.exit(f"{numbered}\n\nREADME.rst (above) does not render: {error}")
    readme_path.write_text(text, encoding="utf-8")
    write_index(addon_dir, readme_path, raw_url)


if __name__ == "__main__":
    main()
