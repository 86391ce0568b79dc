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
// keeps no trie. Each filter is cut at its '+' levels, and the prefixes
// where a cut or the filter ends ("a/b" and "a/b/+/c" for "a/b/+/c/#") are
// patterns in one open-addressing hash table, hashed level by level. A match
// hashes the topic's levels once, probes the table for every prefix of the
// topic at once, and probes below a '+' only where a slot says a pattern has
// '+' children; slots also say whether their pattern holds subscribers, so a
// pattern is read only when it may match, and then its filter is compared
// with the topic byte by byte. Exact filters, most of them in practice, are
// patterns like the others: the probe for the whole topic finds them. A
// pattern holds its filter's first subscriber inline, so a match waits for
// about two misses in a row, three below a '+', whatever the topic's depth;
// see BenchmarkMatch. Filter strings are copied once and shared by both
// copies; a subscription costs about 400 heap bytes in all at a million
// subscriptions (both copies). Match allocates nothing with a reused Result.
//
// # Dependencies
//
// The package imports the standard library only. It knows nothing of the wire
// codec, sessions or the broker: callers pass client identifiers, filters and
// subscription options as plain values.
package topic
