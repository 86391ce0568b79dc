package broker

import "sync/atomic"

// stats are the broker's counters, kept consistent with $SYS.
type stats struct {
	connected       atomic.Int64
	sessions        atomic.Int64
	subscriptions   atomic.Int64
	retained        atomic.Int64
	retainedBytes   atomic.Int64 // topic and payload bytes of the retained set
	received        atomic.Int64 // PUBLISH packets from clients
	sent            atomic.Int64 // PUBLISH packets to clients
	packetsReceived atomic.Int64
	packetsSent     atomic.Int64
	dropped         atomic.Int64 // deliveries dropped: full queues, offline QoS 0, too large
	expired         atomic.Int64 // messages whose expiry passed before delivery
	droppedMemory   atomic.Int64 // deliveries dropped because MaxQueuedMemory was reached
	authFailures    atomic.Int64 // failed logins and re-authentications
	refusedBanned   atomic.Int64 // connections refused by a ban
	refusedLimit    atomic.Int64 // connections refused by a connection limit or rate
	throttled       atomic.Int64 // times a client's reading paused for its publish rate
	// refusedStoreFull counts packets refused because the store was full.
	refusedStoreFull atomic.Int64
	// queuedBytes is the size of the messages in all session queues, kept
	// only while MaxQueuedMemory is set.
	queuedBytes atomic.Int64
}
