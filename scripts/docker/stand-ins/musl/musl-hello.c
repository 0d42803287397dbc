/* Linked dynamically against musl (musl-gcc, not -static): it runs only where
 * /lib/ld-musl-x86_64.so.1 is, which proves the image is a musl userland. */
#include <stdio.h>

int main(void)
{
	puts("hello from musl");
	return 0;
}
