#!/usr/bin/env python3
"""Every repository path a document names must exist (make test runs this through ctest).

Scans README.md, the Makefile's comments and docs/**/*.md for `code spans` and markdown link targets; a token is a repository
path when its first segment is a tracked top-level entry (src/, docs/, scripts/, Makefile, ...) or it
is an include path (greenknobs/... -> src/greenknobs/...). Outputs of a run (runs/, out/, build/) are
not tracked, so they are never checked; neither are templates (<...>, *, NNNN, {..}, $VAR).

Usage: scripts/check_doc_paths.py [REPO_ROOT]    exit 0 = all found, 1 = missing paths (listed)
"""
import os
import re
import subprocess
import sys

PLACEHOLDER = re.compile(r"[<>*{}$]|NNNN|\.\.\.|XXXX")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
TOKEN_SPLIT = re.compile(r"[\s,;()\"']+")
MAKE_PATH = re.compile(r"^(docs|scripts|configs|variants|examples)/")


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files"], check=True, capture_output=True, text=True)
        return [line for line in out.stdout.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in ("build", "runs", "out")]
            files += [os.path.relpath(os.path.join(dirpath, f), root) for f in filenames]
        return files


def documents(root):
    docs = ["README.md", "STYLE.md", "Makefile"]
    for dirpath, _, filenames in os.walk(os.path.join(root, "docs")):
        docs += [os.path.relpath(os.path.join(dirpath, f), root) for f in sorted(filenames) if f.endswith(".md")]
    return [d for d in docs if os.path.isfile(os.path.join(root, d))]


def candidates(line, markdown):
    """(token, is_link) pairs: code spans and link targets of a markdown line; in a Makefile, every
    word that starts like a repository path (its comments cite docs and scripts)."""
    if not markdown:
        for token in TOKEN_SPLIT.split(line):
            if MAKE_PATH.match(token):
                yield token, False
        return
    for span in CODE_SPAN.findall(line):
        for token in TOKEN_SPLIT.split(span):
            yield token, False
    for target in LINK.findall(line):
        yield target, True


def normalise(token):
    token = token.split("#", 1)[0]
    token = token.split(":", 1)[0]  # file.cpp:120, paper.toml:V2:lora.r
    token = token.rstrip(".:,;")
    if token.startswith("./"):
        token = token[2:]
    return token


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    files = tracked_files(root)
    existing = set(files)
    for f in files:  # every directory of a tracked file exists too
        parts = f.split("/")
        for i in range(1, len(parts)):
            existing.add("/".join(parts[:i]))
    top = {f.split("/", 1)[0] for f in files}
    missing = []
    checked = 0
    for doc in documents(root):
        doc_dir = os.path.dirname(doc)
        with open(os.path.join(root, doc), encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                for raw, is_link in candidates(line, doc.endswith(".md")):
                    token = normalise(raw)
                    if not token or PLACEHOLDER.search(token) or "://" in token or token.startswith("-"):
                        continue
                    if token.startswith("greenknobs/") and token.endswith((".h", ".cpp")):
                        token = "src/" + token
                    if is_link and not token.startswith("/"):  # relative to the document
                        token = os.path.normpath(os.path.join(doc_dir, token))
                        if token.startswith(".."):
                            continue  # outside the repository
                    elif token.startswith("../") or token.startswith("/"):
                        continue  # outside the repository (../shared, /usr/src)
                    first = token.split("/", 1)[0]
                    if first not in top or (first == token and "." not in token and first not in existing):
                        continue
                    if "/" not in token and first not in ("Makefile", "CMakeLists.txt") and "." not in token:
                        continue  # a bare word that happens to be a top-level name (`data`, `docs`)
                    checked += 1
                    if token.rstrip("/") not in existing:
                        missing.append(f"{doc}:{lineno}: `{raw}` names {token}, which is not in the repository")
    for m in missing:
        print(m)
    print(f"check_doc_paths: {checked} repository paths named in {len(documents(root))} documents, "
          f"{len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
