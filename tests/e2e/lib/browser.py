"""tests/e2e/lib/browser.py - a headless chromium for end-to-end tests: Debian's /usr/bin/chromium driven by puppeteer-core (npm,
tests/package.json) through tests/e2e/lib/browser.js, one JSON command a line. puppeteer-core downloads no browser.

    b = Browser()                      # Skip when chromium or node is missing
    b.goto(url); b.type("#token", t); b.click("#login-button")
    b.wait("document.querySelector('#x').textContent === 'y'")   # a page expression, until truthy (its value)
    b.screenshot("01-login.png")       # into Browser.ARTIFACTS
    b.close()
"""
import json
import os
import subprocess
import threading

import edgetest

CHROMIUM = os.environ.get("EDGEHOOK_CHROMIUM", "/usr/bin/chromium")
# screenshots: a folder in the ctest working directory (the build folder), kept after the run
ARTIFACTS = os.path.abspath(os.environ.get("EDGEHOOK_ARTIFACTS", "dashboard-screenshots"))


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self):
        if not os.access(CHROMIUM, os.X_OK):
            raise edgetest.Skip("%s is missing (scripts/deps.sh test installs Debian's chromium)" % CHROMIUM)
        tests = edgetest.npm_ready("puppeteer-core")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser.js")
        env = dict(os.environ, NODE_NO_WARNINGS="1")
        env.pop("http_proxy", None)
        env.pop("https_proxy", None)
        self.proc = subprocess.Popen(["node", script, tests, CHROMIUM], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True)
        self.stderr = []
        threading.Thread(target=self._drain, daemon=True).start()
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.version = self._answer(600)

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _answer(self, timeout):
        # the browser's own timeouts (2-5 min) end every command; this guards against a node process that hangs or dies
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout * edgetest.SLOW)
        if not box or not box[0]:
            raise BrowserError("the browser did not answer (exit %s):\n%s" % (self.proc.poll(), "".join(self.stderr)[-4000:]))
        a = json.loads(box[0])
        if not a.get("ok"):
            raise BrowserError(a.get("error"))
        return a.get("value")

    def cmd(self, name, timeout=600, **args):
        args["cmd"] = name
        self.proc.stdin.write(json.dumps(args) + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def goto(self, url):
        return self.cmd("goto", url=url)

    def type(self, selector, text):
        return self.cmd("type", selector=selector, text=text)

    def select(self, selector, value):
        return self.cmd("select", selector=selector, value=value)

    def upload(self, selector, *paths):
        """puts files (paths on this machine) into an <input type=file>, as the file dialog would: its change event fires"""
        return self.cmd("upload", selector=selector, paths=[os.path.abspath(p) for p in paths])

    def click(self, selector):
        return self.cmd("click", selector=selector)

    def wait(self, expr, timeout=120):
        """waits until the page expression is truthy; returns its value. `timeout` (seconds, times SLOW) only caps a failure"""
        try:
            return self.cmd("wait", expr=expr, timeout_ms=int(timeout * edgetest.SLOW * 1000))
        except BrowserError as e:
            raise BrowserError("waiting for %s: %s" % (expr, str(e).splitlines()[0]))

    def eval(self, expr):
        return self.cmd("eval", expr=expr)

    def text(self, selector):
        return self.eval("(document.querySelector(%s) || {}).textContent" % json.dumps(selector))

    def screenshot(self, name):
        return self.cmd("screenshot", path=os.path.join(ARTIFACTS, name))

    def problems(self):
        return self.cmd("problems")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.cmd("close", timeout=120)
            except (BrowserError, BrokenPipeError, OSError):
                pass
            try:
                self.proc.stdin.close()  # node's stdin stays open (and node running) until its end of file
            except OSError:
                pass
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
