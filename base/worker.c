/* base/worker.c - the calling thread's identity (see worker.h). */
#include <pthread.h>
#include <stdio.h>
#include "base/worker.h"

static __thread int worker_id = -1;
static __thread int store_loop_id = -1;
static __thread char worker_name[16] = "main";

/* the kernel's name of the thread too (/proc/PID/task/TID/comm, top -H, perf): the same 15 characters */
static void name_os_thread(void)
{
    pthread_setname_np(pthread_self(), worker_name);
}

void edge_worker_enter(unsigned id)
{
    worker_id = (int)id;
    store_loop_id = -1;
    snprintf(worker_name, sizeof(worker_name), "t%u", id);
    name_os_thread();
}

void edge_store_loop_enter(unsigned id)
{
    worker_id = -1;
    store_loop_id = (int)id;
    snprintf(worker_name, sizeof(worker_name), "store-io%u", id);
    name_os_thread();
}

void edge_thread_name(const char *name)
{
    worker_id = -1;
    store_loop_id = -1;
    snprintf(worker_name, sizeof(worker_name), "%s", name);
    name_os_thread();
}

int edge_worker_id(void)
{
    return worker_id;
}

int edge_store_loop_id(void)
{
    return store_loop_id;
}

const char *edge_worker_name(void)
{
    return worker_name;
}
