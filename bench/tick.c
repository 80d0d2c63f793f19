/*
 * tick FILE — a stand-in for /bin/true that can be counted: appends one
 * byte to FILE (O_APPEND, so concurrent runs never lose one) and exits 0.
 * The exec scenario runs it per event under hookd and under webhook, and
 * counts completed runs as the size of FILE. Bench-only.
 */
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd;
	if (argc < 2)
		return 0;
	fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return 1;
	if (write(fd, ".", 1) != 1) {
		close(fd);
		return 1;
	}
	return close(fd) == 0 ? 0 : 1;
}
