"""A pytest plugin for tests/s3tests/run.py (loaded with -p edge_s3tests_plugin): runs only the tests named in the file
$EDGE_S3TESTS_SELECT (one `file.py::test_name` a line) and writes every test's outcome to $EDGE_S3TESTS_RESULTS as JSON lines:
{"test": ..., "outcome": passed|failed|error|skipped, "reason": first line of the failure, "detail": the failure's tail}.
Works with pytest-xdist too (the reports reach the controller, which writes the file)."""
import json
import os

_select = None
_out = None
_worker = False


def pytest_configure(config):
    # under pytest-xdist the workers' reports reach the controller, which alone writes the file
    global _worker
    _worker = hasattr(config, "workerinput")


def _load_select():
    path = os.environ.get("EDGE_S3TESTS_SELECT")
    if not path:
        return None
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(line)
    return names


def _short(nodeid):
    # "s3tests/functional/test_s3.py::test_x" -> "test_s3.py::test_x"
    path, _, name = nodeid.partition("::")
    return os.path.basename(path) + "::" + name


def _lean_fixtures():
    """The suite's autouse fixture empties every bucket of the run's prefix before and after each test, once per user: main,
    alt and tenant, then deletes IAM roles and OIDC providers. With alt and tenant on main's key (a store with one key) that is
    the same work three times, and the store has no IAM: each distinct key is emptied once, the IAM part is skipped."""
    import s3tests.functional as f

    def nuke_all():
        done = set()
        for key, get in ((f.config.main_access_key, f.get_client), (f.config.alt_access_key, f.get_alt_client),
                         (f.config.tenant_access_key, f.get_tenant_client)):
            if key not in done:
                done.add(key)
                f.nuke_prefixed_buckets(prefix=f.prefix, client=get())
    f.setup = nuke_all
    f.teardown = nuke_all


def pytest_collection_modifyitems(session, config, items):
    global _select
    if items:
        _lean_fixtures()
    _select = _load_select()
    if _select is None:
        return
    keep, drop = [], []
    for item in items:
        (keep if _short(item.nodeid) in _select else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def _reason(report):
    text = report.longreprtext or ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # the "E   ..." lines carry the assertion or exception; the last one is the most specific
    errs = [ln.strip()[1:].strip() for ln in lines if ln.startswith("E ")]
    if errs:
        # an assertion's first E line shows the comparison ("assert 404 == 200"); an exception's last names it
        first = errs[0]
        return first if first.startswith(("assert", "AssertionError")) else errs[-1]
    return lines[-1].strip() if lines else ""


def pytest_runtest_logreport(report):
    global _out
    path = os.environ.get("EDGE_S3TESTS_RESULTS")
    if not path or _worker:
        return
    # one line per test: the call's outcome, or the setup's/teardown's when they fail (error), or a skip
    outcome = None
    if report.when == "call":
        outcome = report.outcome
    elif report.failed:
        outcome = "error"
    elif report.skipped and report.when == "setup":
        outcome = "skipped"
    if outcome is None:
        return
    if _out is None:
        _out = open(path, "a", encoding="utf-8")
    rec = {"test": _short(report.nodeid), "outcome": outcome, "when": report.when, "duration": round(report.duration, 3)}
    if outcome != "passed":
        rec["reason"] = _reason(report)[:400]
        rec["detail"] = (report.longreprtext or "")[-3000:]
    _out.write(json.dumps(rec) + "\n")
    _out.flush()
