#!/usr/bin/env python3
"""Print the .deb packages needed to run ROOTS from a foreign Debian suite.

Walks Depends/Pre-Depends of ROOTS in the package index that `apt-cache`
(configured by the -o options given before `--`) sees, stopping at packages
that are already installed on this system (by name, any version): those are
used from the system. Packages listed with --force are always included even
if the system has them (e.g. an older libunwind8 that must shadow the
system's). Prints one package name per line.

usage: deb_closure.py [APT_CACHE_OPTION ...] -- [--force PKG ...] ROOT ...
"""
import re
import subprocess
import sys


def main(argv):
    if "--" not in argv:
        sys.exit(__doc__)
    sep = argv.index("--")
    apt_opts, rest = argv[:sep], argv[sep + 1:]
    force, roots = set(), []
    it = iter(rest)
    for a in it:
        if a == "--force":
            force.add(next(it))
        else:
            roots.append(a)
    roots += sorted(force - set(roots))

    installed_cache = {}

    def installed(name):
        if name not in installed_cache:
            r = subprocess.run(
                ["dpkg-query", "-W", "-f=${Status}", name],
                capture_output=True, text=True,
            )
            installed_cache[name] = r.returncode == 0 and r.stdout.endswith(" installed")
        return installed_cache[name]

    show_cache = {}

    def show(name):
        """Return the dependency field text of the candidate, or None if unknown."""
        if name not in show_cache:
            r = subprocess.run(
                ["apt-cache", *apt_opts, "show", "--no-all-versions", name],
                capture_output=True, text=True,
            )
            if r.returncode != 0 or not r.stdout.strip():
                show_cache[name] = None
            else:
                fields, key = {}, None
                for line in r.stdout.split("\n\n")[0].splitlines():
                    if line.startswith((" ", "\t")) and key:
                        fields[key] += " " + line.strip()
                    elif ":" in line:
                        key, _, val = line.partition(":")
                        fields[key] = val.strip()
                show_cache[name] = ", ".join(
                    f for f in (fields.get("Pre-Depends"), fields.get("Depends")) if f
                )
        return show_cache[name]

    def name_of(atom):
        return re.sub(r"\s*\(.*\)|\s*\[.*\]|:any|:native", "", atom).strip()

    wanted, queue = [], list(roots)
    seen = set()
    while queue:
        pkg = queue.pop(0)
        if pkg in seen:
            continue
        seen.add(pkg)
        deps = show(pkg)
        if deps is None:
            sys.exit(f"deb_closure: package {pkg!r} not found in the foreign index")
        wanted.append(pkg)
        for clause in filter(None, (c.strip() for c in deps.split(","))):
            alts = [name_of(a) for a in clause.split("|")]
            if any(installed(a) for a in alts) or any(a in seen for a in alts):
                continue
            for a in alts:
                if show(a) is not None:
                    queue.append(a)
                    break
            else:
                sys.exit(f"deb_closure: cannot satisfy {clause!r} (needed by {pkg})")
    # forced packages are wanted even though the system has them
    print("\n".join(wanted))


if __name__ == "__main__":
    main(sys.argv[1:])
