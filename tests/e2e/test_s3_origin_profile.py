# ctest-labels: notsan
# notsan: starts three edgehook processes; the code under test is config and file reading
"""End-to-end: an S3 origin signed with a profile of an AWS shared credentials file (issue 15 feature 8): the embedded store,
reached by URL like a remote S3, with its key in a temp HOME's ~/.aws/credentials; a named profile that is missing fails the
start with FILE:LINE; a SIGHUP re-reads the file."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, curl_status, free_port, run, test, wait_until  # noqa: E402

AK, SK = "PROFILEKEY0000000001", "profilesecret000000000000000000000000001"
HOME = tempfile.mkdtemp(prefix="e2e-profile-home-")
os.makedirs(os.path.join(HOME, ".aws"))
CREDS = os.path.join(HOME, ".aws", "credentials")
with open(CREDS, "w") as f:
    f.write("[default]\naws_access_key_id = WRONG\naws_secret_access_key = wrong\n\n[edge]\naws_access_key_id = %s\n"
            "aws_secret_access_key = %s\naws_session_token = ignored-by-the-store\n" % (AK, SK))
with open(os.path.join(HOME, ".aws", "config"), "w") as f:
    f.write("[profile edge]\nregion = us-east-1\n")
SPORT = free_port()
CONFIG = """
listen: [{host: 127.0.0.1, port: 0}]
origins:
  s3: {type: s3, endpoint: "http://127.0.0.1:%d", bucket: prof, addressing: path, credentials: {profile: %s}}
behaviors: [{path: "*", origin: s3, cache: off}]
store:
  listen: {host: 127.0.0.1, port: %d}
  root: ./data
  credentials: {access_key: %s, secret_key: %s}
  seed: {bucket: prof, dir: %s}
"""
SITE = tempfile.mkdtemp(prefix="e2e-profile-site-")
with open(os.path.join(SITE, "hello.txt"), "w") as f:
    f.write("hello from a profile")
ENV = {"HOME": HOME, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": "",
       "AWS_CONFIG_FILE": ""}


@test
def profile_signs_origin_requests_and_reload_rereads():
    edge = Edge(CONFIG % (SPORT, "edge", SPORT, AK, SK, SITE), env=ENV)
    try:
        status, _, body = curl_status("-s", edge.url("/hello.txt"))
        assert status == 200 and body == b"hello from a profile", (status, body, edge.log()[-2000:])
        assert "signing with the profile edge of %s" % CREDS in edge.log(), edge.log()
        # the file changes: a wrong secret, read again at the reload
        with open(CREDS, "w") as f:
            f.write("[edge]\naws_access_key_id = %s\naws_secret_access_key = not-the-secret\n" % AK)
        edge.signal(1)
        wait_until(lambda: "reload: configuration applied" in edge.log(), what="the reload")
        status, _, body = curl_status("-s", edge.url("/hello.txt"))
        assert status in (403, 502), (status, body)
    finally:
        edge.stop()


@test
def missing_profile_fails_the_start():
    edge = Edge(CONFIG % (SPORT, "nosuch", SPORT, AK, SK, SITE), env=ENV, expect_fail=True)
    rc = edge.proc.wait(timeout=60)
    log = edge.log()
    assert rc != 0 and "origins.s3: credentials: no profile \"nosuch\"" in log and ".yaml:" in log, log


if __name__ == "__main__":
    run()
