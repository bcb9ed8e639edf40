// Runs a Python file under Pyodide (CPython 3.14.2 compiled to WebAssembly, with the real C
// _pickle module), like `python FILE ARGS...`: stdin, stdout and stderr are the process's own
// (read and written synchronously, so line-by-line protocols such as corpora/gen/oracle.py work),
// sys.argv is [FILE, ARGS...], the working directory is the caller's, and the exit status is the
// script's (SystemExit) or 1 on an uncaught exception (traceback on stderr).
//
//   node tools/pyodide/run.mjs FILE [ARGS...]        (pyodide from tools/pyodide/node_modules,
//                                                      or NODE_PATH / target/pyodide; see .ci/test-all)
//
// Host directories are visible to Python at the same paths (NODEFS mounts): the script's
// directory, the working directory, /tmp, /usr/share/zoneinfo (the time zone database, named by
// PYTHONTZPATH unless set) and $CACHE_COMPAT_PYODIDE_MOUNTS (colon-separated).
// Environment variables are passed through. Pyodide is single-threaded and has no signals:
// signal.alarm does not exist, subprocesses cannot be started.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const here = path.dirname(new URL(import.meta.url).pathname);

async function importPyodide() {
  const bases = [];
  if (process.env.CACHE_COMPAT_PYODIDE_DIR) bases.push(process.env.CACHE_COMPAT_PYODIDE_DIR);
  bases.push(here, path.resolve(here, "../../target/pyodide"));
  for (const base of bases) {
    const req = createRequire(path.join(base, "package.json"));
    let resolved;
    try {
      resolved = req.resolve("pyodide/pyodide.mjs");
    } catch {
      continue;
    }
    return import(pathToFileURL(resolved).href);
  }
  process.stderr.write(
    "run.mjs: pyodide is not installed (npm ci --prefix target/pyodide, see .ci/test-all)\n",
  );
  process.exit(2);
}

const argv = process.argv.slice(2);
if (argv.length < 1) {
  process.stderr.write("usage: node run.mjs FILE [ARGS...]\n");
  process.exit(2);
}
const script = path.resolve(argv[0]);
const { loadPyodide } = await importPyodide();

const env = {};
for (const [k, v] of Object.entries(process.env)) env[k] = v;
// Pyodide ships no time zone database; a native CPython reads the system's (zoneinfo's TZPATH),
// so the host's /usr/share/zoneinfo is mounted and named, like a native Linux build.
const TZDIR = "/usr/share/zoneinfo";
if (env.PYTHONTZPATH === undefined && fs.existsSync(TZDIR)) env.PYTHONTZPATH = TZDIR;

function writer(fd) {
  return {
    write(buf) {
      let off = 0;
      while (off < buf.length) {
        try {
          off += fs.writeSync(fd, buf, off, buf.length - off);
        } catch (e) {
          if (e.code === "EAGAIN") continue;
          if (e.code === "EPIPE") process.exit(1);
          throw e;
        }
      }
      return buf.length;
    },
    isatty: false,
  };
}

const py = await loadPyodide({
  env,
  stdout: undefined,
  stderr: undefined,
  // `python -I`-like: no user site-packages; the script directory goes first on sys.path below.
});
py.setStdin({
  read(buf) {
    for (;;) {
      try {
        return fs.readSync(0, buf, 0, buf.length, null);
      } catch (e) {
        if (e.code === "EAGAIN") continue;
        if (e.code === "EOF") return 0;
        throw e;
      }
    }
  },
  isatty: false,
});
py.setStdout(writer(1));
py.setStderr(writer(2));

const mounts = new Set([path.dirname(script), process.cwd(), "/tmp", TZDIR]);
for (const m of (process.env.CACHE_COMPAT_PYODIDE_MOUNTS || "").split(":")) if (m) mounts.add(path.resolve(m));
// mount outermost first; a directory inside an already mounted one is already visible
const sorted = [...mounts].sort((a, b) => a.length - b.length);
const done = [];
for (const dir of sorted) {
  if (done.some((d) => dir === d || dir.startsWith(d + "/"))) continue;
  if (!fs.existsSync(dir)) continue;
  py.FS.mkdirTree(dir);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: dir }, dir);
  done.push(dir);
}

py.globals.set("_cc_argv", py.toPy([script, ...argv.slice(1)]));
py.globals.set("_cc_cwd", process.cwd());
let status = 0;
try {
  status = py.runPython(`
def _cc_main():
    import os, runpy, sys, traceback
    sys.argv = list(_cc_argv)
    os.chdir(_cc_cwd)
    sys.path.insert(0, os.path.dirname(sys.argv[0]))
    status = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as e:
        code = e.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code
        else:
            sys.stderr.write(str(code) + "\\n")
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    return status
_cc_main()
`);
} catch (e) {
  // os._exit(n) ends the WebAssembly program: an ExitStatus carrying n.
  const m = /Program terminated with exit\((-?\d+)\)/.exec(String(e && e.message));
  if (e && typeof e.status === "number") {
    status = e.status;
  } else if (m) {
    status = Number(m[1]);
  } else {
    process.stderr.write(String(e) + "\n");
    status = 1;
  }
}
process.exit(status);
