import { ReuseRunError } from "../errors/reuse-run-error.ts";

/** Linux errno names, for errors a person can read ("bind 0.0.0.0:8080: EADDRINUSE"). */
const NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 9: "EBADF", 11: "EAGAIN",
  12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 22: "EINVAL",
  24: "EMFILE", 28: "ENOSPC", 38: "ENOSYS", 71: "EPROTO", 88: "ENOTSOCK", 92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT", 95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 98: "EADDRINUSE",
  99: "EADDRNOTAVAIL", 101: "ENETUNREACH", 104: "ECONNRESET", 105: "ENOBUFS", 107: "ENOTCONN",
  110: "ETIMEDOUT", 111: "ECONNREFUSED", 115: "EINPROGRESS",
};

/** Numeric errno values used by the callers that branch on them. */
export const Errno = {
  EPERM: 1, EINTR: 4, EAGAIN: 11, EACCES: 13, EADDRINUSE: 98, ECONNREFUSED: 111, EINPROGRESS: 115,
} as const;

/** The symbolic name of an errno value, e.g. `errnoName(98) === "EADDRINUSE"`. */
export function errnoName(errno: number): string {
  return NAMES[errno] ?? `errno ${errno}`;
}

/** A failed libc call: carries the errno and says which operation on what failed. */
export class SysError extends ReuseRunError {
  readonly errno: number;
  readonly code: string;
  constructor(operation: string, errno: number) {
    super(`${operation}: ${errnoName(errno)}`);
    this.errno = errno;
    this.code = errnoName(errno);
  }
}
