//go:build !race

package broker_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/petrelmq/petrel/packet"
)

// TestDeliveryAllocations guards the hot path: the allocations per
// delivered message, counted over real loopback traffic, in both read
// modes. The limits are today's figures with a little room; an extra
// allocation per message fails the test. (Under the race detector
// sync.Pool drops objects on purpose, hence the build tag.)
func TestDeliveryAllocations(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pubs, subs int
		qos        packet.QoS
		max        float64
	}{
		// A fan-out message is decoded and kept once for all subscribers,
		// and encoded once per wire form, which it caches in an array
		// made for messages with more than one subscriber. About 0.63 and
		// 1.64; 0.1 more seen while other packages' tests loaded the
		// machine (more collections, so sync.Pool keeps less).
		{"fan-out 1 to 8 QoS 0", 1, 8, 0, 0.9},
		{"fan-out 1 to 8 QoS 1", 1, 8, 1, 1.9},
		// Fan-in keeps each message (its struct, its topic and payload);
		// its acknowledgements are written without being built.
		{"fan-in 4 to 1 QoS 0", 4, 1, 0, 2.4},
		{"fan-in 4 to 1 QoS 1", 4, 1, 1, 3.5},
	} {
		for _, goroutines := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/goroutines=%t", tc.name, goroutines), func(t *testing.T) {
				var before, after runtime.MemStats
				delivered := runDelivery(t, tc.pubs, tc.subs, tc.qos, goroutines, 0, 20000/tc.pubs, func() {
					runtime.GC()
					runtime.ReadMemStats(&before)
				})
				runtime.ReadMemStats(&after)
				per := float64(after.Mallocs-before.Mallocs) / float64(delivered)
				t.Logf("%.2f allocations per delivered message", per)
				if per > tc.max {
					t.Errorf("%.2f allocations per delivered message, want at most %.1f", per, tc.max)
				}
			})
		}
	}
}
