/*
 * Attempts in flight, for a crash report (see inflight.h): each running
 * attempt holds a slot with its delivery id; a slot is taken by a compare
 * and swap (0 free, 1 being written, 2 holds an id), so the signal handler
 * reads only whole ids.
 */
#include <stdatomic.h>
#include <unistd.h>

#include "inflight.h"
#include "util.h"

static struct {
	atomic_int state; /* 0 free, 1 being written, 2 holds an id */
	char id[48];
} slots[HKD_INFLIGHT_SLOTS];
static atomic_uint hint;

int hkd_inflight_take(const char *id)
{
	unsigned start = atomic_fetch_add(&hint, 1);
	for (unsigned k = 0; k < HKD_INFLIGHT_SLOTS; k++) {
		unsigned i = (start + k) % HKD_INFLIGHT_SLOTS;
		int expect = 0;
		if (atomic_compare_exchange_strong(&slots[i].state, &expect,
		                                   1)) {
			hkd_strlcpy(slots[i].id, id, sizeof(slots[i].id));
			atomic_store(&slots[i].state, 2);
			return (int)i;
		}
	}
	return -1;
}

void hkd_inflight_free(int i)
{
	if (i >= 0)
		atomic_store(&slots[i].state, 0);
}

void hkd_inflight_report(int fd)
{
	for (unsigned i = 0; i < HKD_INFLIGHT_SLOTS; i++) {
		const char *id = slots[i].id;
		size_t n = 0;
		ssize_t w;
		if (atomic_load(&slots[i].state) != 2)
			continue;
		while (n < sizeof(slots[i].id) - 1 && id[n])
			n++;
		w = write(fd, id, n);
		w = write(fd, "\n", 1);
		(void)w;
	}
}
