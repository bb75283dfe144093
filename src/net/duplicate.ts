/**
 * Borrowing another process's socket for one operation: `pidfd_open` + `pidfd_getfd` give a
 * close-on-exec duplicate, used (TCP_INFO, attaching a steering program) and closed at once. A
 * duplicate that outlived the moment its owner closes would keep the socket in its reuseport
 * group, and connections hashed to it would be reset later (docs/architecture.md#leftover-copies).
 */
import { pidfdOpen, pidfdGetfd, close } from "../sys/libc.ts";

/** Runs `use` with a duplicate of fd `fd` of process `pid`, then closes the duplicate. */
export function withDuplicate<T>(owner: { pid: number; fd: number }, use: (fd: number) => T): T {
  const pidfd = pidfdOpen(owner.pid);
  try {
    const duplicate = pidfdGetfd(pidfd, owner.fd, `fd ${owner.fd} of pid ${owner.pid}`);
    try {
      return use(duplicate);
    } finally {
      close(duplicate);
    }
  } finally {
    close(pidfd);
  }
}
