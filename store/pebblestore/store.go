package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/petrelmq/petrel/broker"
)

// formatVersion is the layout of keys and values this build writes.
// Open refuses a directory with a higher one; when it is raised, Open
// migrates directories with a lower one.
const formatVersion = 1

// ErrClosed is what Apply and Load report after Close.
var ErrClosed = errors.New("pebblestore: closed")

// Options configure a Store. The zero value is the safe default.
type Options struct {
	// Durability says when done callbacks run relative to the fsync;
	// the zero value is Sync().
	Durability Durability
	// Logger receives Pebble's own messages; nil means slog.Default().
	Logger *slog.Logger
	// MinFreeSpace is the free disk space below which the store refuses
	// writes with an error wrapping broker.ErrStoreFull, so the broker
	// refuses what needed them instead of acknowledging it, and Pebble,
	// which cannot survive a failed write to its log, never meets a full
	// disk. Default 64 MiB; negative turns the check off.
	MinFreeSpace int64
	// FS is the file system the store lives on; nil means the operating
	// system's. Tests use it to inject faults.
	FS vfs.FS
}

// defaultMinFreeSpace leaves room for Pebble's own flushes and
// compactions, which need space to free space.
const defaultMinFreeSpace = 64 << 20

// ErrDiskFull is the error, wrapping broker.ErrStoreFull, that refused
// writes carry while free space is below Options.MinFreeSpace.
var ErrDiskFull = fmt.Errorf("pebblestore: free disk space is below the reserve: %w", broker.ErrStoreFull)

// Durability is the trade-off between acknowledgement latency and what a
// power failure may lose. A process crash (kill -9) loses nothing
// acknowledged under Sync, and may lose the last writes under the others.
type Durability struct {
	mode  durabilityMode
	every time.Duration
}

type durabilityMode byte

const (
	modeSync durabilityMode = iota
	modeBatch
	modeNone
)

// Sync calls done only after the write is synced to disk.
func Sync() Durability { return Durability{} }

// Batch calls done once the write is in Pebble's log, before it is
// synced, and syncs every interval: a crash of the machine loses up to
// one interval of acknowledged writes.
func Batch(every time.Duration) Durability { return Durability{mode: modeBatch, every: every} }

// None never syncs; the operating system writes the log when it likes.
func None() Durability { return Durability{mode: modeNone} }

// String is the form ParseDurability reads.
func (d Durability) String() string {
	switch d.mode {
	case modeBatch:
		return "batch(" + d.every.String() + ")"
	case modeNone:
		return "none"
	default:
		return "sync"
	}
}

// ParseDurability reads "sync", "none" or "batch(interval)", as in
// "batch(10ms)".
func ParseDurability(s string) (Durability, error) {
	switch {
	case s == "sync":
		return Sync(), nil
	case s == "none":
		return None(), nil
	case strings.HasPrefix(s, "batch(") && strings.HasSuffix(s, ")"):
		every, err := time.ParseDuration(s[len("batch(") : len(s)-1])
		if err != nil || every <= 0 {
			return Durability{}, fmt.Errorf("durability %q: the batch interval must be a positive duration, as in batch(10ms)", s)
		}
		return Batch(every), nil
	}
	return Durability{}, fmt.Errorf("durability %q: want sync, batch(interval) or none", s)
}

// Store is a broker.Store in a Pebble database. Apply only queues its
// operations; one committer goroutine writes everything queued as one
// Pebble batch, so many clients' writes share an fsync, and a notifier
// goroutine waits for each batch's sync and calls its done callbacks in
// order while the next batch is written (see the package documentation).
type Store struct {
	dir string
	db  *pebble.DB
	fs  vfs.FS
	log *slog.Logger
	// reserve is the free space writes leave; negative means unchecked.
	reserve int64
	// full is set while writes are refused for lack of space; used by
	// the committer only.
	full   bool
	write  *pebble.WriteOptions
	every  time.Duration // the sync interval under Batch; 0 otherwise
	wake   chan struct{} // something is queued
	quit   chan struct{} // Close was called
	notify chan round
	done   chan struct{} // the notifier has called every done

	// atomic is held for reading by broker.Grouper groups and for writing
	// by the committer while it takes a queue, so a group's operations
	// are never split between two commits.
	atomic sync.RWMutex

	mu     sync.Mutex
	closed bool
	queued *queue   // what Apply queued since the committer last took it
	ready  []*queue // queues that reached roundSize, oldest first
	free   []*queue // emptied queues for reuse
	groups int      // broker.Grouper groups open

	enc encoder // the committer's scratch
}

// pending is a done callback waiting for its group's commit, with the
// error its batch already has, if any.
type pending struct {
	done func(error)
	err  error
}

// Open opens the store in dir, creating the directory and an empty store
// if there is none. It refuses a directory that holds something other
// than a Petrel store, or a store written by a newer Petrel.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Durability.mode == modeBatch && opts.Durability.every <= 0 {
		return nil, fmt.Errorf("pebblestore: durability %v: the batch interval must be positive", opts.Durability)
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	if err := fs.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("pebblestore: create data directory: %w", err)
	}
	if err := checkForeign(fs, dir); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, FormatMajorVersion: pebble.FormatNewest, Logger: logger{log}})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open data directory %s: %w", dir, err)
	}
	if err := checkFormat(db, dir); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	reserve := opts.MinFreeSpace
	if reserve == 0 {
		reserve = defaultMinFreeSpace
	}
	s := &Store{
		dir: dir, db: db, fs: fs, reserve: reserve, log: log, write: pebble.Sync,
		wake: make(chan struct{}, 1), quit: make(chan struct{}),
		notify: make(chan round, 64), done: make(chan struct{}),
		queued: newQueue(),
	}
	switch opts.Durability.mode {
	case modeBatch:
		s.write, s.every = pebble.NoSync, opts.Durability.every
	case modeNone:
		s.write = pebble.NoSync
	}
	go s.commit()
	go s.notifyLoop()
	return s, nil
}

// checkForeign refuses a non-empty directory without a Pebble database
// in it, so that a mistyped data directory is not silently filled.
func checkForeign(fs vfs.FS, dir string) error {
	desc, err := pebble.Peek(dir, fs)
	if err != nil {
		return fmt.Errorf("pebblestore: read data directory %s: %w", dir, err)
	}
	if desc.Exists {
		return nil
	}
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("pebblestore: read data directory %s: %w", dir, err)
	}
	for _, name := range names {
		// An interrupted first start leaves Pebble's lock file behind.
		if name != "LOCK" {
			return fmt.Errorf("pebblestore: %s is not empty and holds no Petrel store (found %q); choose an empty or new data directory", dir, name)
		}
	}
	return nil
}

// checkFormat reads the store's format version, writing the current one
// into a new store.
func checkFormat(db *pebble.DB, dir string) error {
	v, closer, err := db.Get([]byte(formatKey))
	if errors.Is(err, pebble.ErrNotFound) {
		empty, err := isEmpty(db)
		if err != nil {
			return fmt.Errorf("pebblestore: read %s: %w", dir, err)
		}
		if !empty {
			return fmt.Errorf("pebblestore: %s holds a Pebble database that is not a Petrel store; choose an empty or new data directory", dir)
		}
		err = db.Set([]byte(formatKey), binary.AppendUvarint(nil, formatVersion), pebble.Sync)
		if err != nil {
			return fmt.Errorf("pebblestore: initialise %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("pebblestore: read the store format in %s: %w", dir, err)
	}
	version, n := binary.Uvarint(v)
	bad := n != len(v)
	if err := closer.Close(); err != nil {
		return fmt.Errorf("pebblestore: read the store format in %s: %w", dir, err)
	}
	switch {
	case bad || version == 0:
		return fmt.Errorf("pebblestore: %s: the store format %x is unknown; the directory is damaged or not a Petrel store", dir, v)
	case version > formatVersion:
		return fmt.Errorf("pebblestore: %s was written by a newer Petrel (store format %d; this build reads up to %d); run that version or a later one, or choose another data directory", dir, version, formatVersion)
	}
	return nil
}

func isEmpty(db *pebble.DB) (bool, error) {
	it, err := db.NewIter(nil)
	if err != nil {
		return false, err
	}
	empty := !it.First()
	return empty, errors.Join(it.Error(), it.Close())
}

// Apply queues the batch; done runs once it is committed as Durability
// says, or with the error that kept it from being written. It never
// waits for I/O. After Close, done gets ErrClosed before Apply returns.
func (s *Store) Apply(ops []broker.Op, done func(error)) {
	err := check(ops)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	q := s.queued
	if err == nil {
		q.add(ops)
	}
	if done != nil {
		q.pending = append(q.pending, pending{done: done, err: err})
	}
	if q.size >= roundSize && s.groups == 0 {
		// Committed as one batch, a round this size is enough: one much
		// larger would be a write-ahead log that size kept for reuse.
		// The cut falls outside every group, which commits whole.
		s.ready = append(s.ready, q)
		s.queued = s.newQueueLocked()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the committer is already due to look
	}
}

// check refuses a batch that encode would fail part way through, so that
// none of it is written.
func check(ops []broker.Op) error {
	for i := range ops {
		op := &ops[i]
		switch {
		case op.Kind == broker.OpRetain && op.Msg == nil:
			return fmt.Errorf("pebblestore: retain without a message")
		case op.Kind == broker.OpSession && op.Session == nil:
			return fmt.Errorf("pebblestore: session %q: no record", op.ClientID)
		case op.Kind == broker.OpEnqueue && op.Delivery.Msg == nil:
			return fmt.Errorf("pebblestore: enqueue for %q: no message", op.ClientID)
		case op.Kind < broker.OpRetain || op.Kind > broker.OpReleased:
			return fmt.Errorf("pebblestore: unknown operation %d", op.Kind)
		}
	}
	return nil
}

// encoder writes operations into a batch; k and v are scratch for keys
// and values, kept between calls.
type encoder struct {
	k, v []byte
}

// encode writes ops, which check passed, into b, in order, so that a
// later operation on a key overrides an earlier one as Pebble applies
// them. Pebble fails a write to an unindexed batch only when the batch
// outgrows its 4 GiB limit.
func (e *encoder) encode(b *pebble.Batch, ops []broker.Op) error {
	k, v := e.k, e.v
	defer func() { e.k, e.v = k, v }()
	for i := range ops {
		op := &ops[i]
		k, v = k[:0], v[:0]
		var err error
		switch op.Kind {
		case cancelled:
		case broker.OpRetain:
			k, v = retainedKey(k, op.Msg.Topic), appendMessage(v, op.Msg)
			err = b.Set(k, v, nil)
		case broker.OpUnretain:
			k = retainedKey(k, op.Topic)
			err = b.Delete(k, nil)
		case broker.OpSession:
			k, v = recordKey(k, op.ClientID), appendRecord(v, op.Session)
			err = b.Set(k, v, nil)
		case broker.OpEndSession:
			k, v = sessionKey(k, op.ClientID), sessionEnd(v, op.ClientID)
			err = b.DeleteRange(k, v, nil)
		case broker.OpSubscribe:
			k, v = subKey(k, op.ClientID, op.Sub.Filter), appendSubscription(v, &op.Sub)
			err = b.Set(k, v, nil)
		case broker.OpUnsubscribe:
			k = subKey(k, op.ClientID, op.Filter)
			err = b.Delete(k, nil)
		case broker.OpEnqueue:
			k, v = seqKey(k, op.ClientID, queuedPrefix, op.Seq), appendDelivery(v, &op.Delivery)
			err = b.Set(k, v, nil)
		case broker.OpSent:
			if op.Phase == broker.AwaitPubcomp {
				// Delivered: only the Seq and packet id stay.
				k = seqKey(k, op.ClientID, queuedPrefix, op.Seq)
				if err = b.Delete(k, nil); err != nil {
					break
				}
			}
			k, v = seqKey(k[:0], op.ClientID, flightPrefix, op.Seq), appendFlight(v, op.PacketID, op.Phase)
			err = b.Set(k, v, nil)
		case broker.OpForget:
			k = seqKey(k, op.ClientID, queuedPrefix, op.Seq)
			if err = b.Delete(k, nil); err == nil {
				k = seqKey(k[:0], op.ClientID, flightPrefix, op.Seq)
				err = b.Delete(k, nil)
			}
		case broker.OpReceived:
			k = inboundKey(k, op.ClientID, op.PacketID)
			err = b.Set(k, nil, nil)
		case broker.OpReleased:
			k = inboundKey(k, op.ClientID, op.PacketID)
			err = b.Delete(k, nil)
		}
		if err != nil {
			return fmt.Errorf("pebblestore: %w", err)
		}
	}
	return nil
}

// commit is the one goroutine that writes: each round it takes one queue
// (see queue and roundSize), commits it as one batch, and passes the
// round's done callbacks on. While it waits for a sync the next queue
// fills, so the more clients write, the more share the next sync, and
// the longer a delivery has to be acknowledged and left out (see queue).
func (s *Store) commit() {
	defer close(s.notify)
	var tick <-chan time.Time
	if s.every > 0 {
		t := time.NewTicker(s.every)
		defer t.Stop()
		tick = t.C
	}
	unsynced := false
	for {
		closing := false
		select {
		case <-s.wake:
		case <-tick:
			if unsynced {
				unsynced = s.syncLog() != nil
			}
			continue
		case <-s.quit:
			closing = true
		}
		s.atomic.Lock()
		s.mu.Lock()
		var q *queue
		more := false
		if len(s.ready) > 0 {
			q = s.ready[0]
			s.ready = append(s.ready[:0], s.ready[1:]...)
			// Whatever else is queued waits for the next round.
			more = len(s.ready) > 0 || len(s.queued.ops) > 0 || len(s.queued.pending) > 0
		} else {
			q = s.queued
			s.queued = s.newQueueLocked()
		}
		s.mu.Unlock()
		s.atomic.Unlock()
		if more {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		r := round{group: q.pending}
		b := s.db.NewBatch()
		r.err = s.enc.encode(b, q.ops)
		q.reset()
		s.mu.Lock()
		s.free = append(s.free, q)
		s.mu.Unlock()
		// An empty round (only barriers) needs no write: its callbacks
		// run after every earlier round's, once those are committed as
		// Durability says.
		if !b.Empty() && r.err == nil {
			if r.err = s.checkSpace(b.Len()); r.err == nil {
				r.err = b.Commit(s.write)
				unsynced = unsynced || r.err == nil && !s.write.Sync
			}
		}
		b.Close()
		if r.err != nil && !errors.Is(r.err, ErrDiskFull) {
			r.err = fmt.Errorf("pebblestore: write %s: %w", s.dir, r.err)
		}
		if len(r.group) > 0 {
			s.notify <- r
		}
		if closing && !more {
			if unsynced && s.every > 0 {
				_ = s.syncLog() // best effort: every done has run
			}
			return
		}
	}
}

// round is one commit: the done callbacks it carries and the error the
// write met, if any.
type round struct {
	group []pending
	err   error
}

// checkSpace refuses a write of size bytes that would leave less free
// space than the reserve, logging when the store fills and when it has
// room again.
func (s *Store) checkSpace(size int) error {
	if s.reserve < 0 {
		return nil
	}
	u, err := s.fs.GetDiskUsage(s.dir)
	if err != nil {
		// Without a measure the write goes ahead: refusing every write
		// because statfs failed would be worse.
		return nil
	}
	full := int64(u.AvailBytes) < s.reserve+int64(size)
	if full != s.full {
		s.full = full
		if full {
			s.log.Error("the data directory's disk is nearly full; refusing writes, so messages that need the store are refused",
				"dir", s.dir, "free", u.AvailBytes, "reserve", s.reserve)
		} else {
			s.log.Warn("the data directory's disk has room again; accepting writes", "dir", s.dir, "free", u.AvailBytes)
		}
	}
	if full {
		return ErrDiskFull
	}
	return nil
}

// BeginGroup starts a group of batches that are committed together: the
// committer does not take the queued batch until EndGroup (see
// broker.Grouper).
func (s *Store) BeginGroup() {
	s.atomic.RLock()
	s.mu.Lock()
	s.groups++
	s.mu.Unlock()
}

// EndGroup ends the group BeginGroup started.
func (s *Store) EndGroup() {
	s.mu.Lock()
	s.groups--
	s.mu.Unlock()
	s.atomic.RUnlock()
}

// roundSize is about the most one commit writes, unless one Apply or
// group is larger.
const roundSize = 1 << 20

// newQueueLocked is an empty queue, a reused one if there is one. The
// caller holds s.mu.
func (s *Store) newQueueLocked() *queue {
	if n := len(s.free); n > 0 {
		q := s.free[n-1]
		s.free = s.free[:n-1]
		return q
	}
	return newQueue()
}

// syncLog syncs Pebble's write-ahead log.
func (s *Store) syncLog() error {
	return s.db.LogData(nil, pebble.Sync)
}

// notifyLoop calls done callbacks round after round, in Apply order, on
// a goroutine of its own so that the next round is written meanwhile.
func (s *Store) notifyLoop() {
	defer close(s.done)
	for r := range s.notify {
		for _, p := range r.group {
			if p.err == nil {
				p.err = r.err
			}
			p.done(p.err)
		}
	}
}

// Close writes what is queued, calls every pending done callback, and
// closes the database. It must not be called from a done callback.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pebblestore: close %s: %w", s.dir, err)
	}
	return nil
}
