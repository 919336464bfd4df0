#!/usr/bin/python3
"""Dependency guard: everything the project uses is installed by scripts/install-deps.sh.

A fresh Debian 12 machine has only debootstrap's minbase plus git and make. `make run`,
`make test` and `make bench` install the rest through scripts/install-deps.sh, profile by
profile. A dependency that works on a developer's machine only because it happens to be
installed there (libnats, the curl program) breaks the quick start for everybody else, and CI
does not notice when it runs on that same machine. This check finds such gaps on the machine
that introduces them:

  * every file the CMake configure step found (CMakeCache.txt: compilers, libraries, pytest),
    in profile `build` — or `bench` for an optional lookup in bench/CMakeLists.txt;
  * every Python module imported by the tests (profile `test`) and benchmarks (`bench`), by
    `import`, `importlib.import_module("x")` or `__import__("x")`;
  * every program named by the tests, their fixtures and `streambus up` (`test`, `run`) and by
    the benchmark scripts (`bench`): string literals in Python and C (argv lists, f-strings
    such as f"{bindir}/pg_ctl", shell command strings given to shell=True, os.system or
    os.popen), words in shell scripts, that name an executable on this machine;
  * the programs the README's quick start tells a new user to run (kcat, psql, curl: `run`);
  * every npm module the tests' JavaScript files require(), which must be one that
    install-deps.sh installs with npm (or a Node.js built-in);

is mapped to its Debian package (`dpkg -S`), and that package must be in the profile's
closure: the packages the profile names plus everything they depend on, plus the base system
(Priority: required, apt, git, make). Anything else is reported with where it is used.

usage: check_deps.py --build-dir DIR [-v] [--without PKG]... [--expect-missing PKG]... [--only FILE]...

  --without PKG         pretend the profiles do not name PKG (as if its install line were deleted)
  --expect-missing PKG  invert: succeed only if the check fails and names every such PKG (the
                        guard's own tests: it must catch a removed package)
  --only FILE           check only FILE (Python, JavaScript or shell, as a test file would be)
                        instead of the project: the guard's tests of the forms it recognises
"""
import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILES = ("build", "run", "test", "bench", "compat")
# What `make X` installs: each profile is the union of these lists of install-deps.sh.
BASE_EXTRA = ("apt", "git", "make")
SYSTEM_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

# Words that name a program on this machine but are not used as one where they appear. Each
# entry says why; keep this list short.
NOT_PROGRAMS = {
    "info": "a log level in configs, not GNU info",
    "GET": "an HTTP method, not libwww-perl's GET",
    "HEAD": "an HTTP method, not libwww-perl's HEAD",
    "POST": "an HTTP method, not libwww-perl's POST",
    "col": "a column name in the CQL schema fixtures, not bsdextrautils' col",
    "python3": "checked as the interpreter of the tests (package python3 in profile test)",
    "host": "a pg_hba.conf keyword that pg_start.sh writes, not bind9-host's host",
    "zip": "a field of a CQL user type in test data (test_connect_cassandra_schema.py), not Info-ZIP's zip",
}


class Use:
    def __init__(self, kind, name, path, profile, where):
        self.kind, self.name, self.path, self.profile, self.where = kind, name, path, profile, where


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check).stdout


def profile_packages(without):
    """profile -> set of packages install-deps.sh names for it."""
    script = REPO / "scripts" / "install-deps.sh"
    out = {}
    for p in PROFILES:
        pkgs = set(sh(str(script), "--list", p).split())
        out[p] = pkgs - set(without)
    return out


def installed_packages():
    """name -> (priority, essential, [[alternatives] ...] of Depends+Pre-Depends), provides map."""
    fmt = "${Package}\t${db:Status-Abbrev}\t${Priority}\t${Essential}\t${Depends}\t${Pre-Depends}\t${Provides}\n"
    pkgs, provides = {}, {}
    for line in sh("dpkg-query", "-W", "-f", fmt).splitlines():
        name, status, prio, essential, dep, predep, prov = (line.split("\t") + [""] * 7)[:7]
        if not status.startswith("ii"):
            continue
        groups = []
        for field in (dep, predep):
            for group in filter(None, (g.strip() for g in field.split(","))):
                groups.append([re.split(r"[\s(:]", alt.strip())[0] for alt in group.split("|")])
        pkgs[name] = (prio, essential == "yes", groups)
        for p in filter(None, (x.strip() for x in prov.split(","))):
            provides.setdefault(re.split(r"[\s(:]", p)[0], []).append(name)
    return pkgs, provides


def closure(roots, pkgs, provides):
    """The installed packages that installing `roots` brings (hard dependencies only)."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in pkgs:
            # A virtual package: whatever installed package provides it.
            todo.extend(provides.get(name, []))
            continue
        for alts in pkgs[name][2]:
            # apt picks the first alternative it can satisfy; take the first installed one.
            chosen = next((a for a in alts if a in pkgs or a in provides), None)
            if chosen:
                todo.append(chosen)
    return seen


def owners(paths):
    """path -> Debian package owning it (None when no package does)."""
    result = {}
    for path in paths:
        candidates = [path, os.path.realpath(path)]
        # merged /usr: a package may register /bin/x while we found /usr/bin/x, or the reverse.
        for c in list(candidates):
            if c.startswith("/usr/"):
                candidates.append(c[4:])
            else:
                candidates.append("/usr" + c)
        result[path] = None
        for c in candidates:
            r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
            for line in r.stdout.splitlines():
                pkg, _, owned = line.partition(": ")
                if owned.strip() == c:
                    result[path] = pkg.split(":")[0].split(",")[0].strip()
                    break
            if result[path]:
                break
    return result


# ---- what the project uses ------------------------------------------------------------------

LOOKUP_RE = re.compile(r"\b(pkg_check_modules|find_library|find_program|find_package|find_path)\(\s*(\w+)([^)]*)\)",
                       re.S)


def cmake_uses(build_dir):
    """Files the configure step found, each with the profile that must install it."""
    lookups = []  # (prefix, profile)
    for cm in REPO.glob("**/CMakeLists.txt"):
        if "build" in cm.relative_to(REPO).parts[:1] or "node_modules" in cm.parts:
            continue
        text = re.sub(r"#.*", "", cm.read_text())
        optional_bench = cm.parent == REPO / "bench"
        for m in LOOKUP_RE.finditer(text):
            # A REQUIRED lookup fails the configure step of every profile, so it is `build`'s;
            # an optional one is for the benchmarks (bench/) or the tests (pytest).
            required = "REQUIRED" in m.group(3)
            profile = "build" if required else ("bench" if optional_bench else "test")
            lookups.append((m.group(2), profile, cm.relative_to(REPO)))
    cache = Path(build_dir) / "CMakeCache.txt"
    if not cache.exists():
        sys.exit("check_deps: %s not found; configure first (cmake --preset release)" % cache)
    uses = []
    for line in cache.read_text().splitlines():
        m = re.match(r"^(\w+):FILEPATH=(/.+)$", line)
        if not m or not os.path.exists(m.group(2)):
            continue
        var, path = m.groups()
        if path.startswith(str(REPO)):
            continue
        profile, where = "build", "CMake (%s)" % var
        for prefix, prof, cm in lookups:
            if var == prefix or var.startswith(prefix + "_") or var.startswith("pkgcfg_lib_%s_" % prefix):
                profile, where = prof, "%s (%s)" % (cm, var)
        uses.append(Use("CMake lookup", var, path, profile, where))
    return uses


def python_files(root):
    for f in sorted(root.rglob("*")):
        if not f.is_file() or "node_modules" in f.parts or "__pycache__" in f.parts:
            continue
        if f.suffix == ".py" or (f.suffix == "" and f.read_bytes()[:40].startswith(b"#!/usr/bin/python3")):
            yield f


PROJECT_MODULES = {p.stem for p in (REPO / "tests" / "integration").glob("*.py")}


def python_modules(files, profile):
    """Top-level modules imported by `files` that are neither stdlib nor the project's own."""
    wanted = {}
    for f in files:
        try:
            tree = ast.parse(f.read_text(), str(f))
        except SyntaxError as e:
            sys.exit("check_deps: cannot parse %s: %s" % (f, e))
        # A file's neighbours, and the harness modules of tests/integration that benchmarks put on
        # sys.path (bench/jobs_api/run.py imports conftest, pg_fixtures ...), are the project's own.
        local = {p.stem for p in f.parent.glob("*.py")} | PROJECT_MODULES
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str) and call_name(node) in ("import_module", "__import__"):
                names = [node.args[0].value]  # importlib.import_module("x"), __import__("x")
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    wanted.setdefault(top, f.relative_to(REPO))
    uses = []
    for mod, where in sorted(wanted.items()):
        # The tests run under Debian's /usr/bin/python3 (CMakeLists.txt), so resolve it there.
        code = "import importlib.util,sys; s=importlib.util.find_spec(sys.argv[1]); print(s.origin if s else '')"
        origin = subprocess.run(["/usr/bin/python3", "-c", code, mod], capture_output=True, text=True).stdout.strip()
        uses.append(Use("Python module", mod, origin or None, profile, str(where)))
    return uses


def call_name(node):
    """The called function's own name: "run" for subprocess.run(...), "which" for which(...)."""
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


# Calls whose first argument is a whole command line for /bin/sh.
SHELL_CALLS = ("system", "popen", "getoutput", "getstatusoutput")


def shell_command_words(text):
    """The program of each command in a shell command line: the first word of every part
    between ; & | && || ( ), after any VAR=value assignments. Words that are not plain (a
    $variable, a quoted string) are skipped."""
    words = []
    for part in re.split(r"[;&|()\n]+", text):
        for token in part.split():
            if re.fullmatch(r"\w+=\S*", token):
                continue
            words.append(token.rsplit("/", 1)[1] if "/" in token and not token.startswith("/") else token)
            break
    return words


def fstring_text(node):
    """An f-string with each {expression} replaced by "{}": f"{bindir}/pg_ctl" -> "{}/pg_ctl"."""
    return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                   for v in node.values)


def command_words_python(f):
    """String constants that a Python file uses as a program: the first element of a list or
    tuple (an argv; an f-string there counts by its last path component, f"{bin}/pg_ctl"), an
    argument of which(), the last part of a path join, constants assigned to UPPER_CASE names
    (PSQL = ".../psql", later the argv's first element), and the programs of a shell command
    line given to os.system/os.popen or to any call with shell=True."""
    tree = ast.parse(f.read_text(errors="replace"), str(f))
    words = []

    def const(n):
        return n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) else None

    def text_of(n):
        """A string constant or an f-string (with "{}" for its holes)."""
        return const(n) if const(n) is not None else fstring_text(n) if isinstance(n, ast.JoinedStr) else None

    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts and const(node.elts[0]):
            words.append(const(node.elts[0]))
        elif isinstance(node, (ast.List, ast.Tuple)) and node.elts and isinstance(node.elts[0], ast.JoinedStr):
            last = fstring_text(node.elts[0]).rsplit("/", 1)[-1]
            if "{}" not in last:
                words.append(last)
        elif isinstance(node, ast.Call):
            fn = call_name(node)
            shell = fn in SHELL_CALLS or any(k.arg == "shell" and isinstance(k.value, ast.Constant)
                                             and k.value.value is True for k in node.keywords)
            if shell and node.args and text_of(node.args[0]):
                words += [w for w in shell_command_words(text_of(node.args[0])) if "{}" not in w]
            if fn == "which" and node.args and const(node.args[0]):
                words.append(const(node.args[0]))
            if fn == "join" and node.args and const(node.args[-1]):
                words.append(const(node.args[-1]))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and const(node.right):
            words.append(const(node.right))  # Path(...) / "name"
        elif isinstance(node, ast.Assign) and const(node.value):
            if any(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
                words.append(const(node.value))
    return words


def command_words_c(f):
    """In C: the first string of a brace initializer (an argv: {"runuser", ...} or
    {PG_BIN "/initdb", ...}), the program argument of exec*p(), and #define'd paths."""
    text = f.read_text(errors="replace")
    words = re.findall(r'\{\s*(?:\(char \*\))?\s*(?:[A-Z_]+\s+)?"([^"]+)"', text)
    words += re.findall(r'\bexec[lv]p?e?\s*\(\s*"([^"]+)"', text)
    words += re.findall(r'#define\s+\w+\s+"(/[^"]+)"', text)
    return words


def shell_words(f):
    words = []
    for line in f.read_text(errors="replace").splitlines():
        line = re.sub(r"(^|\s)#.*", "", line)
        for token in re.findall(r"[A-Za-z0-9_./+-]+", line):
            # "$bin/pg_ctl": the token is "/pg_ctl" after the variable; keep paths whole too,
            # so bin=/usr/lib/postgresql/15/bin adds a program directory.
            words.append(token)
            if "/" in token and not token.startswith("/"):
                words.append(token.rsplit("/", 1)[1])
    return words


def find_program(word, extra_dirs):
    if not word or word in NOT_PROGRAMS or not re.fullmatch(r"[A-Za-z0-9_./+-]+", word):
        return None
    if word.startswith("/"):
        # An absolute program path, or a program appended to a directory ("$bin" "/pg_ctl").
        if word.startswith(("/usr/", "/bin/", "/sbin/", "/opt/")) and os.path.isfile(word) \
                and os.access(word, os.X_OK):
            return word
        if word.count("/") != 1:
            return None
        word = word[1:]
    if "/" in word or word in (".", ".."):
        return None
    for d in SYSTEM_PATH + extra_dirs:
        p = os.path.join(d, word)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def quickstart_words(f):
    """The programs of the shell lines in the code blocks of README.md's "Quick start" section:
    what it tells a new user to run once `make run` is up."""
    text = f.read_text(errors="replace")
    m = re.search(r"^## Quick start.*?$(.*?)(?=^## )", text, re.M | re.S)
    words = []
    for block in re.findall(r"^```(?:sh|bash|console)?\n(.*?)^```", m.group(1) if m else "", re.M | re.S):
        for line in block.splitlines():
            words += shell_command_words(re.sub(r"(^|\s)#.*", "", line))
    return words


def program_uses(files, profile):
    found = {}
    for f in files:
        if f.suffix in (".c", ".h"):
            words = command_words_c(f)
        elif f.name == "README.md":
            words = quickstart_words(f)
        elif f in python_set:
            words = command_words_python(f)
        else:
            words = shell_words(f)
        for w in words:
            found.setdefault(w.strip(), f.relative_to(REPO))
    # Constants naming a directory of programs (PG_BIN "/usr/lib/postgresql/15/bin") widen the search.
    extra = sorted({w for w in found if w.startswith("/usr/") and os.path.isdir(w) and w not in SYSTEM_PATH})
    uses = []
    for w, where in sorted(found.items()):
        path = find_program(w, extra)
        if path:
            uses.append(Use("program", os.path.basename(path), path, profile, str(where)))
    return uses


# ---- npm modules ------------------------------------------------------------------------------

REQUIRE_RE = re.compile(r"""\brequire\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s[^'"]*?\bfrom\s+['"]([^'"]+)['"]""", re.M)


def js_requires(files):
    """module -> first file requiring it: the npm modules the JavaScript files load (relative
    paths and Node.js built-ins left out)."""
    builtins = set()
    node = shutil.which("node")
    if node:
        out = subprocess.run([node, "-p", "require('module').builtinModules.join(' ')"], capture_output=True,
                             text=True).stdout
        builtins = set(out.split())
    wanted = {}
    for f in files:
        for m in REQUIRE_RE.finditer(f.read_text(errors="replace")):
            name = m.group(1) or m.group(2)
            if name.startswith((".", "/", "node:")):
                continue
            # "@scope/pkg/sub" -> "@scope/pkg", "pkg/sub" -> "pkg"
            top = "/".join(name.split("/")[:2]) if name.startswith("@") else name.split("/")[0]
            if top not in builtins:
                wanted.setdefault(top, f.relative_to(REPO))
    return wanted


def npm_installed(without):
    """The npm packages scripts/install-deps.sh installs (`npm install ... NAME[@VERSION]`)."""
    text = (REPO / "scripts" / "install-deps.sh").read_text()
    names = set()
    for m in re.finditer(r"\bnpm install\b([^\n]*)", text):
        for arg in m.group(1).split():
            if arg.startswith("-") or arg.startswith("$") or arg == "\\":
                continue
            names.add(re.sub(r"(?<=.)@.*$", "", arg.strip("\"'")))
    return names - set(without)


python_set = set()


def project_uses(build_dir, only=()):
    """Every use, and the npm modules required (module -> where). With `only`, just those files,
    as test files."""
    global python_set
    tests = REPO / "tests"
    if only:
        files = [Path(f).resolve() for f in only]
        python_set = {f for f in files if f.suffix == ".py"}
        js = [f for f in files if f.suffix == ".js"]
        other = [f for f in files if f.suffix not in (".py", ".js")]
        uses = python_modules(sorted(python_set), "test") + program_uses(sorted(python_set) + other, "test")
        return uses, js_requires(js)
    # tests/deps holds the guard and the inputs of its own tests, not tests.
    test_py = [f for f in python_files(tests) if "deps" not in f.relative_to(tests).parts[:1]]
    bench_py = list(python_files(REPO / "bench"))
    python_set = set(test_py + bench_py)
    # scripts/compat.sh runs in the suite (compat/librdkafka_fast), so it is the test profile's.
    test_sh = sorted(tests.rglob("*.sh")) + [REPO / ".ci" / "run", REPO / "scripts" / "compat.sh"]
    up_c = sorted((REPO / "src" / "cmd").glob("up_main.c")) + sorted((REPO / "src" / "up").glob("*.[ch]"))
    test_js = [f for f in sorted(tests.rglob("*.js")) if "node_modules" not in f.parts
               and "deps" not in f.relative_to(tests).parts[:1]]
    uses = cmake_uses(build_dir)
    uses += python_modules(test_py, "test") + python_modules(bench_py, "bench")
    uses += program_uses(test_py + [f for f in test_sh if f.exists()], "test")
    # What `streambus up` runs, and what the README's quick start tells the user to run with it.
    uses += program_uses(up_c + [REPO / "README.md"], "run")
    uses += program_uses(bench_py, "bench")
    return uses, js_requires(test_js)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--without", action="append", default=[])
    ap.add_argument("--expect-missing", action="append", default=[])
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("-v", "--verbose", action="store_true", help="list every use and its package")
    args = ap.parse_args()

    pkgs, provides = installed_packages()
    base_roots = [n for n, (prio, essential, _) in pkgs.items() if prio == "required" or essential]
    base = closure(base_roots + list(BASE_EXTRA), pkgs, provides)
    profiles = profile_packages(args.without)
    covered = {p: closure(profiles[p], pkgs, provides) | base for p in PROFILES}

    uses, requires = project_uses(args.build_dir, args.only)
    owner = owners(sorted({u.path for u in uses if u.path}))
    problems = []
    for u in uses:
        if u.kind == "Python module" and u.path is None:
            problems.append("%s: Python module `%s` is not installed on this machine (profile %s must install it)"
                            % (u.where, u.name, u.profile))
            continue
        pkg = owner.get(u.path)
        if pkg is None:
            if u.path.startswith("/usr/local/") or u.path.startswith("/root/") or u.path.startswith("/opt/"):
                problems.append("%s: %s `%s` is %s, which no Debian package provides (a fresh machine will not have it)"
                                % (u.where, u.kind, u.name, u.path))
            # Files written by maintainer scripts (alternatives and the like) belong to nobody.
            continue
        if pkg not in covered[u.profile]:
            problems.append("%s: %s `%s` (%s) comes from package %s, which profile `%s` of "
                            "scripts/install-deps.sh does not install" % (u.where, u.kind, u.name, u.path, pkg, u.profile))
    npm = npm_installed(args.without)
    for mod, where in sorted(requires.items()):
        if mod not in npm:
            problems.append("%s: npm module `%s` comes from npm package %s, which scripts/install-deps.sh does "
                            "not install (add it to its `npm install` line)" % (where, mod, mod))
    print("check_deps: %d uses checked (%d CMake lookups, %d Python modules, %d programs, %d npm modules)"
          % (len(uses) + len(requires), sum(u.kind == "CMake lookup" for u in uses),
             sum(u.kind == "Python module" for u in uses), sum(u.kind == "program" for u in uses), len(requires)))
    if args.verbose:
        for u in uses:
            print("  %-8s %-13s %-28s %-22s %s" % (u.profile, u.kind, u.name, owner.get(u.path), u.where))
        for mod, where in sorted(requires.items()):
            print("  %-8s %-13s %-28s %-22s %s" % ("test", "npm module", mod, "npm " + mod, where))
    for p in sorted(set(problems)):
        print("MISSING " + p)
    if args.expect_missing:
        caught = [pkg for pkg in args.expect_missing if any("package %s," % pkg in p for p in problems)]
        for pkg in args.expect_missing:
            print("check_deps: removing %s from the profiles is %s" % (pkg, "caught, as expected" if pkg in caught
                                                                     else "NOT caught"))
        return 0 if len(caught) == len(args.expect_missing) else 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
