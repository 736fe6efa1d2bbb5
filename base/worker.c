/* base/worker.c - the calling thread's identity (see worker.h). */
#include <stdio.h>
#include "base/worker.h"

static __thread int worker_id = -1;
static __thread char worker_name[16] = "main";

void edge_worker_enter(unsigned id)
{
    worker_id = (int)id;
    snprintf(worker_name, sizeof(worker_name), "t%u", id);
}

void edge_thread_name(const char *name)
{
    worker_id = -1;
    snprintf(worker_name, sizeof(worker_name), "%s", name);
}

int edge_worker_id(void)
{
    return worker_id;
}

const char *edge_worker_name(void)
{
    return worker_name;
}
