#!/usr/bin/env python3
"""The module layering docs/design.md states, checked (make test runs this through ctest).

GK_MODULES in the top CMakeLists.txt lists the modules in dependency order. A source file of module M
may include headers of M and of modules listed before M, never of one listed after it; only the torch
modules (GK_TORCH_MODULES) may include torch. The apps, tests, benches and the Python module sit above
every module and are not checked.

Usage: scripts/check_layering.py [REPO_ROOT]    exit 0 = layered, 1 = violations (listed)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]')


def cmake_list(text, name):
    m = re.search(r"set\(" + name + r"\s+([^)]*)\)", text)
    if not m:
        raise SystemExit(f"check_layering: CMakeLists.txt: no set({name} ...)")
    return m.group(1).split()


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as fh:
        cmake = fh.read()
    modules = cmake_list(cmake, "GK_MODULES")
    torch_modules = set(cmake_list(cmake, "GK_TORCH_MODULES"))
    rank = {m: i for i, m in enumerate(modules)}
    src = os.path.join(root, "src", "greenknobs")
    problems = []
    files = 0
    for module in sorted(os.listdir(src)):
        mdir = os.path.join(src, module)
        if not os.path.isdir(mdir):
            continue
        if module not in rank:
            problems.append(f"src/greenknobs/{module}/: a module that GK_MODULES does not list")
            continue
        for dirpath, _, filenames in os.walk(mdir):
            for name in sorted(filenames):
                if not name.endswith((".h", ".cpp")):
                    continue
                files += 1
                path = os.path.relpath(os.path.join(dirpath, name), root)
                with open(os.path.join(root, path), encoding="utf-8") as fh:
                    for lineno, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        header = m.group(1)
                        if header.startswith("greenknobs/"):
                            used = header.split("/")[1]
                            if used in rank and rank[used] > rank[module]:
                                problems.append(f"{path}:{lineno}: {module} includes {header}, but {used} "
                                                f"is above {module} in GK_MODULES")
                        elif header.split("/")[0] in ("torch", "ATen", "c10") and module not in torch_modules:
                            problems.append(f"{path}:{lineno}: {module} includes {header}, but {module} "
                                            "is not a torch module (GK_TORCH_MODULES)")
    for p in problems:
        print(p)
    print(f"check_layering: {files} files in {len(modules)} modules, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
