// Package topic owns MQTT's topic rules and the two indexes built on them:
//
//   - topic name and topic filter validation (MQTT 3.1.1 and 5.0 section 4.7)
//     and the parsing of shared subscriptions, "$share/{ShareName}/{filter}"
//     (5.0 section 4.8.2);
//   - Tree, the subscription tree that maps a topic name to the subscriptions
//     and shared subscription groups whose filters match it;
//   - Retained, the retained-message index that maps a topic filter to the
//     retained topics it matches.
//
// Matching follows the spec to the byte: '+' matches exactly one level, '#'
// matches any number of levels including the parent ("sport/#" matches
// "sport"), filters that begin with a wildcard never match names that begin
// with '$' [MQTT-4.7.2-1], and names and filters are compared as bytes, with
// no normalisation [MQTT-4.7.3-4].
//
// # Concurrency
//
// Tree and Retained are each a left-right pair (Ramalhete and Correia,
// "Left-Right: A Concurrency Control Technique with Wait-Free Population
// Oblivious Reads"): two copies of the same plain, single-threaded index.
// Readers (Match, on every PUBLISH) read whichever copy is current, announcing
// themselves on a striped counter and taking no lock; one writer at a time
// (Subscribe, Unsubscribe, Set, Delete) changes the other copy, flips the
// current pointer, waits for readers still on the old copy to leave, and
// repeats the change there. A publish therefore never waits for a subscribe;
// a subscribe may wait for the matches in flight, which take microseconds.
// The price is memory: the index structure is held twice. Subscriber lists
// are stored in the structure itself, but shared-group member lists are
// immutable and shared by both copies, which is what lets Match hand them out
// without copying.
//
// # Layout and cost
//
// At a million subscriptions the index is far larger than any cache, and on
// the machines brokers run on a load that misses costs hundreds of
// nanoseconds; independent misses overlap, dependent ones queue. A trie walk
// is a chain of dependent misses per level (map bucket, key, node), so Tree
// keeps no trie. Every filter is a pattern in one open-addressing hash table,
// hashed level by level with '+' and '#' as levels of their own, and holds
// its first three subscriptions inline. A match hashes the topic's levels
// once and derives from them the hash of every key that could match it with
// at most one '+' after its literal start: the topic, its prefixes followed
// by '#', and both with any one level replaced by '+', about twenty keys for
// a five-level topic. A Bloom filter of the table's keys, a megabyte at a
// million subscriptions and so in cache, rules out nearly all of them; the
// slots of the rest are prefetched as they pass and then read, and the
// patterns they point to are prefetched and read in turn. A filter with more
// wildcards leaves markers, prefixes whose slots send the match one round
// further. A match therefore waits for two misses in a row, slot and
// pattern, whatever the topic's depth and the number of filters; see
// BenchmarkMatch. Filter strings are copied once and shared by both copies;
// a subscription costs about 270 heap bytes in all at a million
// subscriptions (both copies). Match allocates nothing with a reused Result.
//
// # Dependencies
//
// The package imports the standard library only. It knows nothing of the wire
// codec, sessions or the broker: callers pass client identifiers, filters and
// subscription options as plain values.
package topic
