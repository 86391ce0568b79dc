package listener

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls on the path of every message (reading a ready socket,
// sending to one, rearming it, asking epoll what is ready) are made raw,
// without telling the Go scheduler. None of them can block: the sockets
// are non-blocking and epoll is asked with a zero timeout. Announcing them
// (syscall.Syscall) has a cost that only shows on a broker that sleeps
// between messages: the first announced call after the process was idle
// wakes the runtime's monitor thread (sysmon), which then polls every
// 20 µs for a millisecond. With the broker held to one CPU, as a
// single-threaded server is compared, each message paid for two or three
// extra thread switches on that CPU.

// rawRead is read(2).
func rawRead(fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawSend is send(2) with MSG_NOSIGNAL: a peer that went away is an
// error, not SIGPIPE.
func rawSend(fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawEpollCtl is epoll_ctl(2).
func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// rawEpollPoll is epoll_pwait(2) with a zero timeout: what is ready now.
func rawEpollPoll(epfd int, evs []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
