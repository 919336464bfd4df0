#!/usr/bin/python3
"""Writes a deb-src twin of the Debian archive entries apt is configured with.

`apt-get source` needs deb-src entries; Debian 12 installs only `Types: deb`. Rather than edit
the user's files, this writes one separate file (deb822 format) holding a deb-src entry for every
enabled deb entry of this release's archive (suites named after the release codename: bookworm,
bookworm-updates, bookworm-security, ...). Third-party repositories (other suite names) are left
alone: most publish no sources, and `apt-get update` would fail on them.

Usage: debsrc.py [--apt-dir DIR] [--os-release FILE] OUTPUT_FILE
prints the URIs it mirrored; exit 1 when nothing was found. The options exist for the tests.
"""

import argparse
import glob
import re
import sys
from pathlib import Path

def codename(os_release):
    for line in Path(os_release).read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def deb822_entries(path):
    """Yields dicts of the stanzas of a .sources file (keys lower-cased, comments dropped)."""
    stanza = {}
    key = None
    for raw in Path(path).read_text().splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
            continue
        if raw[0] in " \t" and key:  # continuation line of a multi-line field
            stanza[key] += "\n" + raw
            continue
        if ":" in raw:
            key, value = raw.split(":", 1)
            key = key.strip().lower()
            stanza[key] = value.strip()


def one_line_entries(path):
    """Yields the deb822-shaped dict of each `deb [opts] uri suite comps` line of a .list file."""
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        entry = {"types": m.group(1), "uris": m.group(3), "suites": m.group(4),
                 "components": m.group(5)}
        for opt in (m.group(2) or "").split():
            k, _, v = opt.partition("=")
            if k == "signed-by":
                entry["signed-by"] = v
        yield entry


def configured_entries(apt_dir):
    files = [apt_dir / "sources.list"] + sorted(Path(p) for p in glob.glob(str(apt_dir / "sources.list.d/*")))
    for f in files:
        if not f.is_file():
            continue
        if f.suffix == ".sources":
            yield from deb822_entries(f)
        elif f.suffix == ".list":
            yield from one_line_entries(f)


def deb_src_text(apt_dir, release):
    """The deb822 text of the deb-src twin, or None when no entry of `release` is configured."""
    stanzas = []
    for e in configured_entries(Path(apt_dir)):
        if e.get("enabled", "yes").lower() == "no" or "deb" not in e.get("types", "").split():
            continue
        suites = [s for s in e.get("suites", "").split() if re.fullmatch(re.escape(release) + r"(-[a-z]+)?", s)]
        if not suites or not e.get("uris") or not e.get("components"):
            continue
        lines = ["Types: deb-src", "URIs: " + e["uris"], "Suites: " + " ".join(suites),
                 "Components: " + e["components"]]
        if "signed-by" in e:
            lines.append("Signed-By: " + e["signed-by"])
        stanzas.append("\n".join(lines))
    if not stanzas:
        return None
    return ("# deb-src twin of this machine's Debian deb entries, written by StreamBus's\n"
            "# tests/compat/debsrc.py so `apt-get source` works. Safe to delete.\n\n"
            + "\n\n".join(stanzas) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apt-dir", default="/etc/apt")
    ap.add_argument("--os-release", default="/etc/os-release")
    ap.add_argument("output")
    a = ap.parse_args()
    release = codename(a.os_release)
    if not release:
        sys.exit("debsrc: no VERSION_CODENAME in %s" % a.os_release)
    text = deb_src_text(a.apt_dir, release)
    if text is None:
        sys.exit("debsrc: no enabled deb entry for the %s archive in %s" % (release, a.apt_dir))
    Path(a.output).write_text(text)
    for line in text.splitlines():
        if line.startswith(("URIs: ", "Suites: ")):
            print(line)


if __name__ == "__main__":
    main()
