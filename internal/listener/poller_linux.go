package listener

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller tells when watched file descriptors become readable, using one
// epoll instance and one goroutine for all of them. Each Watch or Rearm
// arms a descriptor for one notification (EPOLLONESHOT): its callback runs
// once, on another goroutine, and the descriptor stays quiet until Rearm.
// A connection is therefore handled by at most one goroutine at a time,
// and by none while it is idle.
//
// Callbacks hold slots, of which there are a few per CPU: when all are
// held the Poller waits for one before it starts the next callback. Each
// callback is told its slot's number, below Slots, which no other
// callback holds meanwhile, so a caller may keep per-slot scratch state;
// it gives the slot back with Release, once, when it returns or before it
// waits for anything but the CPU. So when 15,000 clients hang
// up at once, their callbacks run a few dozen at a time, each with its
// stack and read buffer, instead of 15,000 at once.
//
// A callback runs on an idle goroutine a previous callback ran on, or on
// a new one when none is idle, and the goroutine waits for the next once
// its callback returns, up to Slots of them: a goroutine started for each
// callback would begin on a small stack and grow it, copying, for every
// message a connection reads. A callback that has released its slot and
// blocks keeps its goroutine to itself.
//
// Closing a descriptor removes it from the Poller; a connection to be shut
// from elsewhere should shutdown(2) its socket, which makes it readable
// (end of file) and so runs its callback, instead of closing it.
type Poller struct {
	epfd   int
	wakefd int

	// callbacks are the watched descriptors' callbacks, by descriptor
	// number: the kernel gives out the lowest free numbers, so they are
	// dense.
	mu        sync.RWMutex
	callbacks []func(slot int)

	// wepfd is a second epoll instance for FDConn writes that wait for
	// room; writers are the waiting writes' channels.
	wepfd   int
	wmu     sync.Mutex
	writers map[int32]chan struct{}

	// epf and wepf are the two epoll descriptors as files, so the loops
	// wait for them in the runtime's own poller (see waitEvents).
	epf, wepf *os.File

	// slots holds the numbers of the free slots.
	slots chan int
	// idle are the hand-over channels of the goroutines waiting for a
	// callback to run; closed is set, and idle emptied, when the loop
	// ends. Both are guarded by imu.
	imu    sync.Mutex
	idle   []chan call
	closed bool
	quit   chan struct{} // closed by Close
	done   chan struct{}
	wdone  chan struct{}
}

// slotsPerCPU is how many callbacks run at once per CPU: enough that one
// waiting on a lock leaves others to keep the CPUs busy.
const slotsPerCPU = 16

const events = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// NewPoller starts a Poller.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	wepfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		err = unix.EpollCtl(wepfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)})
	}
	if err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		if wepfd >= 0 {
			unix.Close(wepfd)
		}
		return nil, fmt.Errorf("epoll for writes: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, done: make(chan struct{}),
		slots: make(chan int, slotsPerCPU*runtime.GOMAXPROCS(0)), quit: make(chan struct{}),
		wepfd: wepfd, writers: map[int32]chan struct{}{}, wdone: make(chan struct{})}
	for i := range cap(p.slots) {
		p.slots <- i
	}
	if p.epf, err = pollable(epfd, "epoll"); err == nil {
		p.wepf, err = pollable(wepfd, "epoll for writes")
	}
	if err != nil {
		unix.Close(wakefd)
		for _, f := range []*os.File{p.epf, p.wepf} {
			if f != nil {
				f.Close()
			}
		}
		if p.epf == nil {
			unix.Close(epfd)
		}
		if p.wepf == nil {
			unix.Close(wepfd)
		}
		return nil, err
	}
	go p.loop()
	go func() {
		defer close(p.wdone)
		p.writeLoop()
	}()
	return p, nil
}

// Watch arms fd: ready runs on another goroutine when it becomes readable or
// its peer hangs up, holding the slot it is told, and must call Release
// once. fd must be non-blocking.
func (p *Poller) Watch(fd int, ready func(slot int)) error {
	p.mu.Lock()
	if fd >= len(p.callbacks) {
		p.callbacks = append(p.callbacks, make([]func(int), fd+1-len(p.callbacks))...)
	}
	p.callbacks[fd] = ready
	p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		p.Forget(fd)
		return fmt.Errorf("epoll_ctl add %d: %w", fd, err)
	}
	return nil
}

// Release gives back the slot a callback runs in. A callback calls it
// exactly once: when it returns, or earlier, before it waits for
// anything but the CPU (a timer, the network, another client).
func (p *Poller) Release(slot int) { p.slots <- slot }

// Slots is how many callbacks may run at once: slot numbers are below it.
func (p *Poller) Slots() int { return cap(p.slots) }

// Rearm asks for the next notification on fd.
func (p *Poller) Rearm(fd int) error {
	if err := rawEpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl mod %d: %w", fd, err)
	}
	return nil
}

// Forget drops fd's callback; call it before closing fd, so a later
// descriptor with the same number starts clean.
func (p *Poller) Forget(fd int) {
	p.mu.Lock()
	if fd < len(p.callbacks) {
		p.callbacks[fd] = nil
	}
	p.mu.Unlock()
	p.wakeWriter(fd)
}

// Close stops the Poller. Watched descriptors are not closed.
func (p *Poller) Close() error {
	close(p.quit)
	var one = [8]byte{1}
	if _, err := unix.Write(p.wakefd, one[:]); err != nil {
		return fmt.Errorf("wake poller: %w", err)
	}
	<-p.done
	<-p.wdone
	unix.Close(p.wakefd)
	p.wepf.Close()
	return p.epf.Close()
}

// pollable makes an epoll descriptor a file the runtime's poller watches.
// A loop that waited in epoll_wait itself would hold its thread's
// processor in a blocking system call until the runtime noticed and took
// it back, which with one processor delays every other goroutine by up to
// milliseconds.
func pollable(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// waitEvents fills evs with f's ready events, waiting for some in the
// runtime's poller; it fails once f is closed.
func waitEvents(f *os.File, evs []unix.EpollEvent) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		n, werr = rawEpollPoll(int(fd), evs)
		if werr == unix.EINTR {
			n, werr = 0, nil
		}
		return n > 0 || werr != nil
	})
	if err != nil {
		return 0, err
	}
	return n, werr
}

// call is a callback and the slot it holds.
type call struct {
	ready func(slot int)
	slot  int
}

// start runs c on an idle goroutine, or on a new one.
func (p *Poller) start(c call) {
	var w chan call
	p.imu.Lock()
	if n := len(p.idle); n > 0 {
		w, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.imu.Unlock()
	if w == nil {
		go p.work(c)
		return
	}
	w <- c
}

// work runs c, then waits to run the callbacks start hands it, while the
// Poller runs and fewer than Slots goroutines are idle.
func (p *Poller) work(c call) {
	var w chan call
	for {
		c.ready(c.slot)
		p.imu.Lock()
		if p.closed || len(p.idle) >= cap(p.slots) {
			p.imu.Unlock()
			return
		}
		if w == nil {
			w = make(chan call, 1)
		}
		p.idle = append(p.idle, w)
		p.imu.Unlock()
		var ok bool
		if c, ok = <-w; !ok {
			return
		}
	}
}

func (p *Poller) loop() {
	defer close(p.done)
	defer func() {
		p.imu.Lock()
		p.closed = true
		for _, w := range p.idle {
			close(w)
		}
		p.idle = nil
		p.imu.Unlock()
	}()
	evs := make([]unix.EpollEvent, 256)
	for {
		n, err := waitEvents(p.epf, evs)
		if err != nil {
			return
		}
		for i := range n {
			fd := evs[i].Fd
			if fd == int32(p.wakefd) {
				return
			}
			var ready func(int)
			p.mu.RLock()
			if int(fd) < len(p.callbacks) {
				ready = p.callbacks[fd]
			}
			p.mu.RUnlock()
			if ready == nil {
				continue
			}
			select {
			case slot := <-p.slots:
				p.start(call{ready, slot})
			case <-p.quit:
				return
			}
		}
	}
}
