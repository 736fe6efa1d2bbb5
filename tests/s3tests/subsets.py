#!/usr/bin/python3
"""tests/s3tests/subsets.py - derives the "core" and "wider" subsets of the vendored ceph/s3-tests from a written rule.

Each test of vendor/s3tests/functional/test_s3.py and test_headers.py gets a set of feature tags, read from its name, its
pytest marks and the source of its body plus the module-level helpers it calls (two levels deep). The tags and the rule:

  core  = no feature tag at all (plain buckets, objects, listings, multipart, copy, ranges, conditional reads, checksums,
          SigV4 header/presigned auth, error answers, `anon` refusals) and not marked `fails_on_aws` (RGW-only behaviour)
  wider = no OUT tag: everything but object lock, ACLs/grants, bucket policy/public access block, IAM/STS, SSE (S3, KMS,
          C), lifecycle, bucket logging, website, storage classes/restore, object ownership, RGW tenants and RGW-only
          extensions (usage, unordered listing, torrent, append). Versioning, CORS, POST, tagging, SigV2,
          GetObjectAttributes, conditional writes and a second user are in `wider` (the features of issue 15).
  both  = minus the tests marked `fails_on_rgw` (the reference fails them too, upstream runs with -m 'not fails_on_rgw';
          several cannot fail at all: a header they remove before signing is put back by the signer),
          minus tests that Debian 12's botocore cannot send (`client` tag: a parameter or operation its S3 model lacks;
          they would measure the client, not the store), minus exclude.txt (timing-dependent tests, with the reason).

  subsets.py            writes core.txt, wider.txt and tags.tsv beside itself
  subsets.py --check    exits 1 if the committed files differ from what the rule gives (a ctest)
"""
import ast
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FUNC = os.path.join(HERE, "vendor", "s3tests", "functional")
FILES = ("test_s3.py", "test_headers.py")

# tag -> (name regex, marks, source regex); a test has the tag if any of the three matches. The source regex is matched on the
# test's body and its helpers', except for the tags of SHALLOW: helpers that take such an option (a version id, tags) are used by
# many tests that do not use it, so only the test's own body counts
TAGS = {
    "iam": (r"iam|sts", {"iam_user", "iam_account", "iam_role", "iam_tenant", "iam_cross_account", "abac_test", "test_of_sts",
                         "webidentity_test", "user_policy", "role_policy", "group_policy"}, r"iam_root|get_iam_|get_sts_"),
    "object_lock": (r"object_lock", {"object_lock"}, r"ObjectLock|object_lock|LegalHold|legal_hold|Retention|BypassGovernance"),
    "sse": (r"sse|encrypt", {"encryption", "sse_s3", "bucket_encryption"},
            r"SSECustomer|ServerSideEncryption|SSEKMS|sse_kms|server-side-encryption|bucket_encryption"),
    "lifecycle": (r"lifecycle|transition", {"lifecycle", "lifecycle_expiration", "lifecycle_transition", "cloud_transition"},
                  r"lifecycle"),
    "logging": (r"logging", {"bucket_logging", "bucket_logging_cleanup", "fails_without_logging_rollover", "target_by_bucket"},
                r"bucket_logging"),
    "policy": (r"policy|public_block|block_public|ignore_public", {"bucket_policy"},
               r"bucket_policy|public_access_block|PublicAccessBlock|policy_status|make_json_policy"),
    "acl": (r"acl", set(), r"_acl\(|ACL=|[^a-z]Grant[A-Z]|x-amz-acl|x-amz-grant|AccessControlPolicy|_setup_access\("),
    "website": (r"website", {"s3website", "s3website_routing_rules", "s3website_redirect_location"}, r"bucket_website"),
    "storage_class": (r"restore|read_through|storage_class", {"storage_class", "cloud_restore"},
                      r"StorageClass=|configured_storage_classes|restore_object|x-amz-storage-class"),
    "ownership": (r"ownership", {"object_ownership"}, r"ObjectOwnership|ownership_controls"),
    "tenant": (r"tenant", set(), r"tenant"),
    "rgw_ext": (r"usage|unordered|torrent|append", {"appendobject"}, r"allow-unordered|x-rgw-|torrent|[^_]Append"),
    "s3select": (r"s3select", {"s3select"}, r"select_object_content"),
    "sns": (r"^test_sns", {"sns"}, r"get_sns_"),
    # the features of issue 15: in `wider`, not in `core`
    "versioning": (r"version|delete_marker", {"versioning", "delete_marker"},
                   r"put_bucket_versioning|check_configure_versioning|list_object_versions|VersionId|versionId"),
    "cors": (r"cors", set(), r"bucket_cors|Access-Control|'Origin'|\"Origin\""),
    "post": (r"post_object", set(), r"requests\.post|_make_post|x-amz-signature\"|'policy'"),
    "tagging": (r"_tags?(_|$)|tagging", {"tagging"}, r"object_tagging|bucket_tagging|Tagging=|x-amz-tagging"),
    "sigv2": (r"aws2|_v2$", {"auth_aws2"}, r"signature_version=['\"]s3['\"]|_setup_bad_object_v2|AWSAccessKeyId"),
    "attributes": (r"object_attributes", set(), r"get_object_attributes"),
    "conditional_write": (r"^test_put_object_if|^test_put_current|^test_multipart_put|_if_match|_if_none_match"
                          r"|ifnonmatch|atomic.*conditional",
                          {"conditional_write"}, r"IfMatch(Size|LastModified)|'If-Match'|'If-None-Match'"),
    "list_buckets_paging": (r"list_buckets_paginated", set(), r"MaxBuckets|ContinuationToken=.*list_buckets"),
    "multiuser": (r"nonowner|not_owned|_owner$", set(), r"get_alt_client|alt_user_id|alt_display_name|alt_email|get_alt_"),
}
SHALLOW = {"tagging", "versioning", "attributes"}
OUT = {"iam", "object_lock", "sse", "lifecycle", "logging", "policy", "acl", "website", "storage_class", "ownership", "tenant",
       "rgw_ext", "s3select", "sns"}
CORE_OK = set()  # no feature tag at all


def load_functions(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    src = open(path, encoding="utf-8").read()
    funcs = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            funcs[node.name] = node
    return tree, src, funcs


def marks_of(fn):
    out = set()
    for d in fn.decorator_list:
        s = ast.unparse(d)
        if s.startswith("pytest.mark."):
            out.add(s[len("pytest.mark."):].split("(")[0])
    return out


def body_source(fn, funcs, depth=2, seen=None):
    """the test's source and that of the module-level helpers it calls (not the fixtures and client getters of __init__)"""
    seen = seen if seen is not None else set()
    seen.add(fn.name)
    text = ast.unparse(fn)
    if depth == 0:
        return text
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in funcs and name not in seen and not name.startswith("test_"):
                text += "\n" + body_source(funcs[name], funcs, depth - 1, seen)
    return text


def client_model():
    """{method name: set of parameter names} of Debian's botocore S3 model, or None when botocore is missing"""
    try:
        import botocore.session
    except ImportError:
        return None
    sess = botocore.session.get_session()
    model = sess.get_service_model("s3")
    from botocore import xform_name
    out = {}
    for op in model.operation_names:
        shape = model.operation_model(op).input_shape
        out[xform_name(op)] = shape.members if shape else {}
    return out


def literal_gaps(value, shape, path, gaps):
    """members of a dict literal (or of the dict literals of a list literal) that the botocore shape does not have"""
    if isinstance(value, ast.Dict) and shape.type_name == "structure":
        for k, v in zip(value.keys, value.values):
            if isinstance(k, ast.Constant) and isinstance(k.value, str):
                if k.value not in shape.members:
                    gaps.add("%s.%s" % (path, k.value))
                else:
                    literal_gaps(v, shape.members[k.value], path + "." + k.value, gaps)
    elif isinstance(value, ast.List) and shape.type_name == "list":
        for elt in value.elts:
            literal_gaps(elt, shape.member, path + "[]", gaps)


def client_gaps(fn, funcs, model):
    """calls of S3 client methods with a parameter Debian's botocore does not know: ['put_object(IfMatch)', ...]"""
    gaps = set()
    nodes = [fn] + [funcs[n] for n in re.findall(r"\b(\w+)\(", body_source(fn, funcs)) if n in funcs and n != fn.name]
    s3_methods = set(model)
    import botocore.config
    config_options = set(botocore.config.Config.OPTION_DEFAULTS)
    for f in nodes:
        for node in ast.walk(f):
            if not isinstance(node, ast.Call):
                continue
            # botocore.config.Config(...) with an option this botocore does not have
            fname = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id if isinstance(node.func, ast.Name) \
                else None
            if fname == "Config":
                for k in node.keywords:
                    if k.arg and k.arg not in config_options:
                        gaps.add("Config(%s)" % k.arg)
                continue
            target = None
            if isinstance(node.func, ast.Attribute) and node.func.attr in s3_methods:
                target = node.func.attr
            elif isinstance(node.func, ast.Name) and node.func.id == "assert_raises" and len(node.args) >= 2 and \
                    isinstance(node.args[1], ast.Attribute) and node.args[1].attr in s3_methods:
                target = node.args[1].attr
            if target is None:
                continue
            if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) and \
                    node.func.value.id in ("requests", "config", "os", "re", "json", "ET", "email", "http"):
                continue
            for k in node.keywords:
                if not k.arg:
                    continue
                if k.arg not in model[target]:
                    gaps.add("%s(%s)" % (target, k.arg))
                else:
                    literal_gaps(k.value, model[target][k.arg], "%s(%s)" % (target, k.arg), gaps)
    return sorted(gaps)


def classify():
    model = client_model()
    rows = []
    for fname in FILES:
        tree, src, funcs = load_functions(os.path.join(FUNC, fname))
        for name, fn in funcs.items():
            if not name.startswith("test_"):
                continue
            marks = marks_of(fn)
            body, own = body_source(fn, funcs), ast.unparse(fn)
            tags = set()
            for tag, (name_re, tag_marks, src_re) in TAGS.items():
                if re.search(name_re, name) or marks & tag_marks or re.search(src_re, own if tag in SHALLOW else body):
                    tags.add(tag)
            gaps = client_gaps(fn, funcs, model) if model is not None else []
            rows.append(("%s::%s" % (fname, name), sorted(tags), sorted(marks), gaps))
    return rows


def read_list(path):
    out = []
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line.split()[0])
    return out


def subsets(rows):
    excluded = set(read_list(os.path.join(HERE, "exclude.txt")))
    core, wider = [], []
    for test, tags, marks, gaps in rows:
        if gaps or test in excluded or "fails_on_rgw" in marks:
            continue
        if not set(tags) & OUT:
            wider.append(test)
            if not tags and "fails_on_aws" not in marks:
                core.append(test)
    return core, wider


HEADER = """# %s subset of ceph/s3-tests (vendor/NOTICE names the commit), generated by tests/s3tests/subsets.py - do not edit.
# rule: %s
"""


def render():
    rows = classify()
    core, wider = subsets(rows)
    files = {}
    files["core.txt"] = HEADER % ("core", "no feature tag (see subsets.py), not fails_on_aws/fails_on_rgw, no client gap, not excluded") + \
        "".join(t + "\n" for t in core)
    files["wider.txt"] = HEADER % ("wider", "no OUT tag (see subsets.py), not fails_on_rgw, no client gap, not excluded") + \
        "".join(t + "\n" for t in wider)
    tsv = ["# test\tsubset\ttags\tmarks\tclient gaps (Debian 12 botocore)"]
    cs, ws = set(core), set(wider)
    for test, tags, marks, gaps in rows:
        sub = "core" if test in cs else "wider" if test in ws else "out"
        tsv.append("%s\t%s\t%s\t%s\t%s" % (test, sub, ",".join(tags) or "-", ",".join(marks) or "-", ",".join(gaps) or "-"))
    files["tags.tsv"] = "\n".join(tsv) + "\n"
    return files


def main():
    files = render()
    if "--check" in sys.argv[1:]:
        bad = 0
        for name, text in files.items():
            path = os.path.join(HERE, name)
            have = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
            if have != text:
                print("%s differs from what subsets.py gives (run tests/s3tests/subsets.py)" % name)
                bad = 1
        sys.exit(bad)
    for name, text in files.items():
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            f.write(text)
    core = files["core.txt"].count("\n") - 2
    wider = files["wider.txt"].count("\n") - 2
    print("core %d, wider %d" % (core, wider))


if __name__ == "__main__":
    main()
