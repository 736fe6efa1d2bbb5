/* store/attributes.c - GetObjectAttributes: GET ?attributes with x-amz-object-attributes (ETag, Checksum, ObjectParts,
 * StorageClass, ObjectSize) and, for the parts, x-amz-max-parts and x-amz-part-number-marker */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/internal.h"

enum { ATTR_ETAG = 1, ATTR_CHECKSUM = 2, ATTR_PARTS = 4, ATTR_CLASS = 8, ATTR_SIZE = 16 };

/* the attributes asked for (a comma-separated list, names case-sensitive as in S3); 0 if none, -1 for an unknown one */
static int parse_attributes(h2o_iovec_t v)
{
    static const struct {
        const char *name;
        int bit;
    } names[] = {{"ETag", ATTR_ETAG},
                 {"Checksum", ATTR_CHECKSUM},
                 {"ObjectParts", ATTR_PARTS},
                 {"StorageClass", ATTR_CLASS},
                 {"ObjectSize", ATTR_SIZE}};
    int set = 0;
    const char *p = v.base, *end = v.base + v.len;
    while (p != NULL && p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p)), *e = c != NULL ? c : end;
        h2o_iovec_t t = h2o_str_stripws(p, (size_t)(e - p));
        if (t.len != 0) {
            int bit = 0;
            for (size_t i = 0; i != sizeof(names) / sizeof(names[0]) && bit == 0; ++i)
                if (h2o_memis(t.base, t.len, names[i].name, strlen(names[i].name)))
                    bit = names[i].bit;
            if (bit == 0)
                return -1;
            set |= bit;
        }
        p = c != NULL ? c + 1 : NULL;
    }
    return set;
}

/* a header holding a non-negative integer: 1 and the value, 0 if absent, -1 if malformed */
static int header_uint(store_req_t *sr, const char *name, unsigned long *out)
{
    h2o_iovec_t v = store_req_header(sr, name);
    char buf[24], *end;
    if (v.base == NULL)
        return 0;
    if (v.len == 0 || v.len >= sizeof(buf))
        return -1;
    memcpy(buf, v.base, v.len);
    buf[v.len] = '\0';
    if (buf[0] < '0' || buf[0] > '9')
        return -1;
    *out = strtoul(buf, &end, 10);
    return *end == '\0' ? 1 : -1;
}

int store_object_attributes(store_req_t *sr, store_bucket_t *b, const char *version_id)
{
    int attrs = parse_attributes(store_req_header(sr, "x-amz-object-attributes"));
    unsigned long max_parts = 1000, marker = 0;
    if (attrs == 0)
        return store_send_error(sr, 400, "InvalidArgument",
                                "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or "
                                "empty",
                                NULL);
    if (attrs < 0)
        return store_send_error(sr, 400, "InvalidArgument", "Invalid attribute name specified.", NULL);
    if (header_uint(sr, "x-amz-max-parts", &max_parts) < 0 || header_uint(sr, "x-amz-part-number-marker", &marker) < 0)
        return store_send_error(sr, 400, "InvalidArgument", "x-amz-max-parts and x-amz-part-number-marker must be integers.", NULL);
    if (max_parts > 1000)
        max_parts = 1000;
    store_obj_t *o = store_fs_obj_get_version(b, sr->key.base, sr->key.len, version_id);
    if (o == NULL || o->delete_marker) {
        if (o != NULL)
            store_add_header(sr, "x-amz-delete-marker", "true", 4);
        store_fs_obj_release(o);
        return version_id != NULL ? store_send_error(sr, 404, "NoSuchVersion", "The specified version does not exist.", NULL)
                                  : store_send_error(sr, 404, "NoSuchKey", "The specified key does not exist.", NULL);
    }
    store_xml_t x;
    char date[32];
    store_xml_begin(&x, "GetObjectAttributesResponse", STORE_XML_NS);
    if (attrs & ATTR_ETAG)
        store_xml_elem_str(&x, "ETag", o->etag); /* without quotes, as S3 answers it here */
    /* Checksum: the store keeps no whole-object checksum besides the ETag (it verifies the ones sent), so none is listed */
    if ((attrs & ATTR_PARTS) && o->num_parts != 0) {
        store_xml_open(&x, "ObjectParts");
        store_xml_elem_u64(&x, "PartsCount", o->num_parts); /* S3 names it so on the wire (the SDKs: TotalPartsCount) */
        store_xml_elem_u64(&x, "PartNumberMarker", marker);
        unsigned long shown = 0, last = marker;
        for (unsigned long n = marker + 1; n <= o->num_parts && shown < max_parts; ++n, ++shown)
            last = n;
        if (shown != 0)
            store_xml_elem_u64(&x, "NextPartNumberMarker", last);
        store_xml_elem_u64(&x, "MaxParts", max_parts);
        store_xml_elem_str(&x, "IsTruncated", last < o->num_parts ? "true" : "false");
        for (unsigned long n = marker + 1; n <= last; ++n) {
            store_xml_open(&x, "Part");
            store_xml_elem_u64(&x, "PartNumber", n);
            store_xml_elem_u64(&x, "Size", o->part_sizes[n - 1]);
            store_xml_close(&x, "Part");
        }
        store_xml_close(&x, "ObjectParts");
    }
    if (attrs & ATTR_CLASS)
        store_xml_elem_str(&x, "StorageClass", "STANDARD");
    if (attrs & ATTR_SIZE)
        store_xml_elem_u64(&x, "ObjectSize", o->size);
    store_xml_close(&x, "GetObjectAttributesResponse");
    store_http_date(o->mtime_ms, date);
    store_add_header(sr, "last-modified", date, strlen(date));
    store_version_headers(sr, b, o);
    store_fs_obj_release(o);
    return store_send_xml(sr, 200, &x);
}
