// Package metrics holds the counters, gauges and histograms the broker
// keeps about itself, in forms cheap enough for the publish path: adding
// to a Local is a plain load and store, and a Histogram spreads its
// writers over shards, so no observation takes a lock or allocates. Values
// are read at any time, by whoever reports them ($SYS topics, the admin
// API, the Prometheus exposition in the prom sub-package), and summed
// there.
//
// # Imports
//
// metrics is a leaf: it imports only the standard library, so the broker
// can depend on it without depending on any exposition format. Only cmd
// wires the prom sub-package in.
package metrics
