// Package pebblestore is the durable broker.Store: Petrel's state in a
// Pebble database in the data directory.
//
// # Writing
//
// Apply checks its operations and queues them, with no I/O. One
// committer goroutine takes what is queued, encodes it as one Pebble
// batch with scratch buffers it keeps, and hands the batch to Pebble; a
// notifier goroutine waits for the batch's fsync and calls the done
// callbacks in Apply order, while the committer writes the next batch.
// Pebble syncs its log for every batch written while the previous sync
// ran, so syncs follow each other with no gap and the more clients
// write, the more batches share one (group commit). A delivery queued
// and forgotten within one round, as one to an online subscriber that
// acknowledges it quickly usually is, is left out of the batch: the
// round commits whole, so the stored state is the same, without the log
// bytes, memtable entries and tombstones. Durability chooses when done
// runs: after the sync (Sync, the default), before it with a sync every
// interval (Batch), or with no sync at all (None).
//
// # Keys
//
// Keys are bytes; <id> is the client id with each 0x00 written as
// 0x00 0xff and 0x00 0x01 appended, which keeps ids in order and makes no
// session's keys a prefix of another's. Seq and packet ids are
// big-endian, so key order is numeric order.
//
//	m/format                   the store format version (uvarint)
//	r/<topic>                  a retained message
//	s/<id>rec                  a session's record
//	s/<id>sub/<filter>         a subscription: options and identifier
//	s/<id>q/<seq:8>            a queued delivery, and the message of one in flight
//	s/<id>f/<seq:8>            an in-flight delivery: packet id and phase
//	s/<id>in/<pid:2>           an inbound QoS 2 packet id awaiting PUBREL
//
// Ending a session is one range delete of s/<id>. Sending a delivery
// writes its f/ key and leaves the message under q/, so it needs no read;
// once PUBREL is sent the q/ key goes, and only the Seq and packet id
// stay. Load reads the keys in order and assembles one session at a time.
//
// Every value starts with an encoding version byte, then its fields:
// integers as varints, strings and byte slices length-prefixed, times as
// seconds and nanoseconds. The key holds what it names (topic, client id,
// filter, Seq), and the value the rest.
//
// # Format versions
//
// m/format is written when the store is created. Open refuses a store
// with a newer format, a non-empty directory that holds no Pebble
// database, and a Pebble database that is not a Petrel store, each with
// a message that names the directory; a Petrel that changes the format
// migrates older stores in Open.
//
// # Imports
//
// pebblestore imports the broker for the Store contract's types, packet
// for the types those hold, Pebble and the standard library. The broker
// never imports it: cmd/petrel chooses the store.
package pebblestore
