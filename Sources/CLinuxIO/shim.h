/* Linux interfaces the Swift Glibc module does not bring in: epoll, eventfd, accept4 and the peer
 * credentials of a Unix socket. Imported only by HarkControl. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

/* SO_PEERGROUPS (Linux 4.13): the supplementary groups of a Unix socket's peer, as the kernel saw them
 * at connect(). asm-generic/socket.h gives 59, the value on x86, arm, arm64 and riscv. */
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* struct ucred is declared only under _GNU_SOURCE, which the Glibc module is built without: the same
 * layout (socket(7), SO_PEERCRED). */
struct hark_ucred {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

/* accept4 is declared only under _GNU_SOURCE too (accept4(2)). */
extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/* accept4 without the peer address (a Unix socket's says nothing): one call sets close-on-exec and
 * non-blocking, so no child spawned meanwhile inherits the descriptor. */
static inline int hark_accept4(int fd, int flags) {
    return accept4(fd, (struct sockaddr *)0, (socklen_t *)0, flags);
}
