package broker

import "sync/atomic"

// stats are the broker's counters, kept consistent with $SYS.
type stats struct {
	connected       atomic.Int64
	sessions        atomic.Int64
	subscriptions   atomic.Int64
	retained        atomic.Int64
	received        atomic.Int64 // PUBLISH packets from clients
	sent            atomic.Int64 // PUBLISH packets to clients
	packetsReceived atomic.Int64
	packetsSent     atomic.Int64
	dropped         atomic.Int64 // deliveries dropped: full queues, offline QoS 0, too large
	expired         atomic.Int64 // messages whose expiry passed before delivery
}
